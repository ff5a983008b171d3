"""
Sample from a trained model:

    python sample.py --out_dir=out-score-shakespeare --start="ROMEO:" --num_samples=3
    python sample.py --out_dir=out-score-shakespeare --n_iter=12     # more recurrent depth, same weights

Decodes with the dataset's meta.pkl (character level) when the checkpoint's data has one, else GPT-2 BPE.
"""
import os
import pickle
import torch

from configurator import cli, configure
from model import GPT, ConfigError, compile_blocks, load_checkpoint, load_model
from train import HERE, is_pretrained, pick_device, pick_precision

DEFAULTS = dict(
    init_from='resume',    # 'resume' (the checkpoint in out_dir), or GPT-2 weights: gpt2, gpt2-xl, a transformers dir
    out_dir='out',
    start="\n",            # prompt text, or FILE:path to read it from a file
    num_samples=10,
    max_new_tokens=500,
    temperature=0.8,       # < 1 sharper, > 1 more random
    top_k=200,             # keep only the top_k most likely tokens (0: all)
    seed=1337,
    device='auto',
    dtype='auto',
    compile=False,
    n_iter=0,              # 0: as trained; otherwise apply each block this many times (test-time depth)
    dt=0.0,                # 0: as trained
    exit_tol=0.0,          # > 0: a token stops iterating once its relative update falls below this (adaptive depth)
    kv_cache=True,         # cache keys/values per application: one token per step instead of the whole window
)


def codec(train_config):
    """encode/decode for the checkpoint's data: its meta.pkl (characters) or GPT-2 BPE."""
    data_dir = train_config.get('data_dir') or os.path.join(HERE, 'data', train_config.get('dataset', ''))
    meta_path = os.path.join(data_dir, 'meta.pkl')
    if train_config and os.path.exists(meta_path):
        with open(meta_path, 'rb') as f:
            meta = pickle.load(f)
        if 'stoi' in meta:
            stoi, itos = meta['stoi'], meta['itos']

            def encode(s):
                unknown = sorted(set(s) - stoi.keys())
                if unknown:
                    raise ConfigError(f"the prompt has characters outside the model's vocabulary: "
                                      f"{''.join(unknown)!r}; remove them")
                return [stoi[ch] for ch in s]
            return encode, lambda ids: ''.join(itos[i] for i in ids)
    from data.gpt2_bpe import gpt2_encoding
    enc = gpt2_encoding()
    return (lambda s: enc.encode(s, allowed_special={'<|endoftext|>'})), enc.decode


def main(argv):
    c = configure(DEFAULTS, argv)
    if c['num_samples'] < 1 or c['max_new_tokens'] < 1:
        raise ConfigError("num_samples and max_new_tokens must be >= 1")
    if c['temperature'] <= 0:
        raise ConfigError(f"temperature must be > 0, got {c['temperature']}")
    device = pick_device(c['device'])
    device_type = device.split(':')[0]
    _, autocast = pick_precision(c['dtype'], device_type)
    torch.manual_seed(c['seed'])

    depth = {key: c[key] for key in ('n_iter', 'dt', 'exit_tol') if c[key]}  # test-time depth: same weights
    if is_pretrained(c['init_from']):
        model, train_config = GPT.from_pretrained(c['init_from'], depth), {}
    elif c['init_from'] == 'resume':
        checkpoint = load_checkpoint(os.path.join(c['out_dir'], 'ckpt.pt'))
        model, train_config = load_model(checkpoint, {**checkpoint['model_args'], **depth}), checkpoint.get('config', {})
    else:
        raise ConfigError(f"init_from must be 'resume' or GPT-2 weights (gpt2, ..., a directory), got {c['init_from']!r}")
    model.eval().to(device)
    if c['compile']:
        compile_blocks(model, device_type)

    encode, decode = codec(train_config)
    start = c['start']
    if start.startswith('FILE:'):
        path = start[5:]
        if not os.path.isfile(path):
            raise ConfigError(f"prompt file {path} not found; give --start=FILE:path/to/prompt.txt")
        with open(path, encoding='utf-8') as f:
            start = f.read()
    ids = encode(start)
    if not ids:
        raise ConfigError("the prompt is empty; give --start=TEXT")
    x = torch.tensor(ids, dtype=torch.long, device=device)[None, ...]

    with torch.no_grad(), autocast:
        for _ in range(c['num_samples']):
            y = model.generate(x, c['max_new_tokens'], temperature=c['temperature'], top_k=c['top_k'] or None,
                               kv_cache=c['kv_cache'])
            print(decode(y[0].tolist()))
            print('---------------')
    return 0


if __name__ == '__main__':
    cli(main)
