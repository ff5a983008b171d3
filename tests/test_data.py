"""GPT-2 BPE data offline: the encoding, Shakespeare BPE, and the OpenWebText pipeline on local files."""
import json
import os
import pickle

import numpy as np
import pytest

from conftest import SHARED, TINY, run, read_log
from data.gpt2_bpe import gpt2_encoding


def test_gpt2_encoding_offline_matches_tiktoken():
    enc = gpt2_encoding()
    assert enc.encode('hello world') == [31373, 995]
    assert enc.n_vocab == 50257 and enc.eot_token == 50256
    assert enc.decode(enc.encode('To be, or not to be')) == 'To be, or not to be'


def test_shakespeare_bpe_token_counts(tmp_path):
    path = os.path.join(SHARED, 'tinyshakespeare', 'input.txt')
    if not os.path.exists(path):
        pytest.skip('../shared/data/tinyshakespeare is absent on this machine')
    run('data/shakespeare/prepare.py', path, f'--out_dir={tmp_path}')
    assert os.path.getsize(tmp_path / 'train.bin') == 2 * 301966  # nanoGPT's figures for this file
    assert os.path.getsize(tmp_path / 'val.bin') == 2 * 36059


def prepare_corpus(files, out, *extra):
    return run('data/openwebtext/prepare.py', f'--data_files={files}', f'--out_dir={out}', '--num_proc=2', *extra,
               env={'HF_DATASETS_CACHE': str(out) + '-cache'})


def check_bins(out, docs):
    enc = gpt2_encoding()
    with open(os.path.join(out, 'meta.pkl'), 'rb') as f:
        meta = pickle.load(f)
    assert meta['dtype'] == 'uint16' and 'stoi' not in meta
    train = np.fromfile(os.path.join(out, 'train.bin'), dtype=np.uint16)
    val = np.fromfile(os.path.join(out, 'val.bin'), dtype=np.uint16)
    assert len(train) + len(val) == sum(len(enc.encode_ordinary(d)) + 1 for d in docs)
    assert (train == enc.eot_token).sum() + (val == enc.eot_token).sum() == len(docs)
    assert val[-1] == enc.eot_token and (val == enc.eot_token).sum() >= 1  # at least one held-out document
    first = enc.decode(train[:list(train).index(enc.eot_token)].tolist())
    assert first in docs  # documents are kept whole, in their own order after the shuffle


def test_openwebtext_pipeline_on_jsonl_then_train_and_sample(tmp_path):
    docs = [f"Document {i}: the quick brown fox jumps over the lazy dog {i} times." for i in range(200)]
    corpus = tmp_path / 'corpus.jsonl'
    corpus.write_text(''.join(json.dumps({'body': d}) + '\n' for d in docs))
    out = tmp_path / 'owt'
    prepare_corpus(corpus, out, '--text_column=body', '--val_fraction=0.05')
    check_bins(out, docs)
    model = tmp_path / 'model'
    run('train.py', *TINY, f'--data_dir={out}', f'--out_dir={model}', '--max_iters=6', '--eval_interval=6', '--block_size=16')
    assert read_log(model)[-1]['iter'] == 6
    proc = run('sample.py', f'--out_dir={model}', '--device=cpu', '--start=Document', '--num_samples=1', '--max_new_tokens=5')
    assert proc.stdout.startswith('Document')


def test_openwebtext_pipeline_on_news_articles(tmp_path):
    path = os.path.join(SHARED, 'webtext', 'lee_background.txt')
    if not os.path.exists(path):
        pytest.skip('../shared/data/webtext is absent on this machine')
    out = tmp_path / 'owt'
    prepare_corpus(path, out)
    with open(path) as f:
        docs = [line.rstrip('\n') for line in f if line.strip()]
    assert len(docs) == 300
    check_bins(out, docs)


def test_openwebtext_bad_input(tmp_path):
    proc = run('data/openwebtext/prepare.py', f'--data_files={tmp_path}/none*.jsonl', check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == f'error: --data_files: nothing matches {tmp_path}/none*.jsonl'
    (tmp_path / 'a.jsonl').write_text('{"body": "x"}\n')
    proc = run('data/openwebtext/prepare.py', f'--data_files={tmp_path}/a.jsonl', f'--out_dir={tmp_path}/o', check=False,
               env={'HF_DATASETS_CACHE': str(tmp_path / 'cache')})
    assert proc.returncode == 2 and "no column 'text'" in proc.stderr and 'Traceback' not in proc.stderr
