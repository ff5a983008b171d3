"""
Generation speed with and without the KV cache, side by side in one process:

    python bench/sample_speed.py                              # Shakespeare-scale SCORE (1 x 6) and stack-6, CPU
    python bench/sample_speed.py --out_dir=out-score-shakespeare   # a trained checkpoint instead of random weights
    python bench/sample_speed.py --quick

Batch 1, a one-character prompt, --max_new_tokens new tokens (500 by default, past block_size 256, so the cache is
rebuilt as it slides). Speed does not depend on the weights, so random ones are used unless a checkpoint is given.
Repeats run round-robin over the variants; the table gives the median. Writes bench/results/sample_speed.{md,csv}.
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from model import GPT, GPTConfig, load_checkpoint, load_model  # noqa: E402
from bench import report  # noqa: E402


def parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    p.add_argument('--out_dir', default='', help='sample a trained checkpoint (out_dir/ckpt.pt) instead')
    p.add_argument('--max_new_tokens', type=int, default=500)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--quick', action='store_true')
    p.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results'))
    a = p.parse_args()
    if a.quick:
        a.max_new_tokens, a.repeats = 40, 1
    return a


def models(a):
    if a.out_dir:
        ckpt = load_checkpoint(os.path.join(a.out_dir, 'ckpt.pt'))
        yield f"checkpoint {a.out_dir}", load_model(ckpt)
        return
    # nanoGPT's shakespeare_char scale; --quick shrinks it
    base = dict(block_size=256, vocab_size=65, n_head=6, n_embd=384, dropout=0.0, bias=False)
    if a.quick:
        base.update(block_size=16, n_head=2, n_embd=32)
    for name, n_layer, n_iter, dt in (('score 1x6', 1, 6, 0.5), ('stack 6x1', 6, 1, 1.0)):
        torch.manual_seed(0)
        yield name, GPT(GPTConfig(n_layer=n_layer, n_iter=n_iter, dt=dt, **base))


def main():
    a = parse()
    print(f"torch {torch.__version__}, device {a.device}, threads {torch.get_num_threads()}, "
          f"{a.max_new_tokens} new tokens, batch 1")
    variants = [(name, m.eval().to(a.device)) for name, m in models(a)]
    prompt = torch.zeros((1, 1), dtype=torch.long, device=a.device)
    times = {(name, cache): [] for name, _ in variants for cache in (True, False)}
    same = {}
    for _ in range(a.repeats):
        for name, model in variants:
            outs = {}
            for cache in (True, False):
                torch.manual_seed(0)
                t0 = time.perf_counter()
                outs[cache] = model.generate(prompt, a.max_new_tokens, top_k=1, kv_cache=cache)
                times[(name, cache)].append(time.perf_counter() - t0)
            # greedy tokens agree up to block_size; past it the cached window is shorter (see GPT.generate)
            bs = model.config.block_size
            same[name] = torch.equal(outs[True][:, :bs], outs[False][:, :bs])

    rows = []
    for name, model in variants:
        cached, uncached = (statistics.median(times[(name, c)]) for c in (True, False))
        rows.append({'model': name, 'unique_params': model.get_num_params(),
                     'block_size': model.config.block_size, 'new_tokens': a.max_new_tokens,
                     'tokens_per_s_cache': round(a.max_new_tokens / cached, 1),
                     'tokens_per_s_no_cache': round(a.max_new_tokens / uncached, 1),
                     'speedup': round(uncached / cached, 2), 'same_tokens_within_block': same[name]})
    table = report.write(a.out, 'sample_speed', rows, f": torch {torch.__version__}, {a.device}, "
                         f"{torch.get_num_threads()} threads, median of {a.repeats} round-robin repeats")
    print(table)


if __name__ == '__main__':
    main()
