"""
Training throughput, stacked vs SCORE at equal effective depth, eager vs compiled, side by side in one process:

    python bench/throughput.py                      # CPU: nanoGPT's laptop recipe (block 64, batch 12, 128 wide)
    python bench/throughput.py --device=cuda --block_size=1024 --batch_size=12 --n_embd=768 --n_head=12 --depths=12
    python bench/throughput.py --quick              # a few iterations, for the test suite

For each depth T: stack-T (T blocks x 1) and SCORE (1 block x T, dt 0.5), each eager, with the shared block
compiled (what train.py --compile=True does), and with the whole model compiled; and SCORE's memory savers,
eager: truncated backprop through the last T/4 iterations, and activation checkpointing of the block. The timed iterations run
round-robin over the variants, so a load change on a shared machine hits all of them alike. Prints a markdown
table (ms/iter, tokens/s, MFU by applications, activation memory, compile time) and writes
bench/results/throughput.{md,csv}.
"""
import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from model import GPT, GPTConfig, compile_blocks, device_peak_flops  # noqa: E402
from bench import report  # noqa: E402


def parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'])
    p.add_argument('--block_size', type=int, default=64)
    p.add_argument('--batch_size', type=int, default=12)
    p.add_argument('--n_embd', type=int, default=128)
    p.add_argument('--n_head', type=int, default=4)
    p.add_argument('--depths', default='4,8', help='comma-separated effective depths')
    p.add_argument('--modes', default='eager,blocks,model', help='eager, blocks (compiled block), model (whole)')
    p.add_argument('--rounds', type=int, default=5, help='round-robin rounds of timed iterations')
    p.add_argument('--iters', type=int, default=10, help='timed iterations per variant per round')
    p.add_argument('--quick', action='store_true', help='tiny sizes and counts, eager only (compiling takes ~30 s)')
    p.add_argument('--out', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results'))
    a = p.parse_args()
    if a.quick:
        a.depths, a.modes, a.rounds, a.iters, a.block_size, a.batch_size, a.n_embd = '2', 'eager', 2, 2, 16, 4, 32
    return a


class Variant:
    def __init__(self, name, depth, mode, spec, a, device_type):
        torch.manual_seed(0)
        self.name, self.depth, self.mode, self.spec = name, depth, mode, spec
        self.model = GPT(GPTConfig(**spec)).to(a.device)
        self.opt = self.model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), device_type)
        self.forward = self.model
        if mode == 'blocks':
            compile_blocks(self.model, device_type)
        elif mode == 'model':
            self.forward = torch.compile(self.model)
        self.times, self.activation_bytes, self.peak_bytes = [], 0, 0


def step(v, x, y, autocast):
    with autocast:
        _, loss = v.forward(x, y)
    loss.backward()
    v.opt.step()
    v.opt.zero_grad(set_to_none=True)


def compile_costs(spec, mode, a, device_type):
    """In a fresh process: seconds the first two training steps take beyond two steady ones (compilation), and
    the first eval forward at 2x n_iter after one at n_iter: whole-model graphs recompile, block graphs do not."""
    import torch._inductor.config
    torch._inductor.config.force_disable_caches = True  # measure a cold compile, not a disk-cache hit
    v = Variant('', 0, mode, spec, a, device_type)
    autocast = torch.autocast(device_type, enabled=False)
    x = torch.zeros(a.batch_size, a.block_size, dtype=torch.long, device=a.device)
    t0 = time.perf_counter()
    step(v, x, x, autocast)
    step(v, x, x, autocast)
    sync(device_type)
    first_two = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(3):
        step(v, x, x, autocast)
    sync(device_type)
    compile_s = max(0.0, first_two - 2 * (time.perf_counter() - t0) / 3)
    v.model.eval()
    with torch.no_grad():
        v.forward(x)
        v.model.config.n_iter *= 2
        sync(device_type)
        t0 = time.perf_counter()
        v.forward(x)
        sync(device_type)
    return round(compile_s, 2), round(time.perf_counter() - t0, 3)


def saved_bytes(v, x, y, autocast):
    """Bytes autograd keeps for the backward pass: the memory that backprop through depth costs."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        v.forward(x, y)[1].backward()
    v.opt.zero_grad(set_to_none=True)
    return total[0]


def sync(device_type):
    if device_type == 'cuda':
        torch.cuda.synchronize()


def main():
    a = parse()
    device_type = a.device.split(':')[0]
    autocast = torch.autocast(device_type, dtype=torch.bfloat16) if a.dtype == 'bfloat16' else torch.autocast(device_type, enabled=False)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, device {a.device}, "
          f"dtype {a.dtype}, threads {torch.get_num_threads()}")
    peak = device_peak_flops(device_type)
    print(f"device peak used for MFU: {peak / 1e12:.2f} TFLOP/s")
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 65, (a.batch_size, a.block_size), generator=gen).to(a.device)
    y = torch.randint(0, 65, (a.batch_size, a.block_size), generator=gen).to(a.device)

    variants = []
    for depth in [int(d) for d in a.depths.split(',')]:
        for name, n_layer, n_iter, dt in (('stack', depth, 1, 1.0), ('score', 1, depth, 0.5)):
            cfg = dict(block_size=a.block_size, vocab_size=65, n_layer=n_layer, n_iter=n_iter, dt=dt,
                       n_head=a.n_head, n_embd=a.n_embd, dropout=0.0, bias=False)
            for mode in a.modes.split(','):
                variants.append(Variant(f'{name} {n_layer}x{n_iter}', depth, mode, cfg, a, device_type))
        # memory savers for deep recurrence, against full backprop (the eager SCORE row above)
        score = dict(cfg, n_layer=1, n_iter=depth, dt=0.5)
        k = max(1, depth // 4)
        variants.append(Variant(f'score 1x{depth} backprop last {k}', depth, 'eager', dict(score, backprop_iters=k), a, device_type))
        variants.append(Variant(f'score 1x{depth} checkpointed', depth, 'eager', dict(score, checkpoint_blocks=True), a, device_type))

    for v in variants:  # untimed warm-up: compilation happens here
        step(v, x, y, autocast)
        step(v, x, y, autocast)
        v.activation_bytes = saved_bytes(v, x, y, autocast)
    # compile costs in fresh processes, so that no variant reuses another's compiled code
    with multiprocessing.get_context('spawn').Pool(1, maxtasksperchild=1) as pool:
        for v in variants:
            v.compile_s, v.deeper_s = pool.apply(compile_costs, (v.spec, v.mode, a, device_type)) if v.mode != 'eager' else ('', '')
    for _ in range(a.rounds):
        for v in variants:
            if device_type == 'cuda':
                torch.cuda.reset_peak_memory_stats()
            sync(device_type)
            t0 = time.perf_counter()
            for _ in range(a.iters):
                step(v, x, y, autocast)
            sync(device_type)
            v.times.append((time.perf_counter() - t0) / a.iters)
            if device_type == 'cuda':
                v.peak_bytes = max(v.peak_bytes, torch.cuda.max_memory_allocated())

    rows = []
    base = {}
    for v in variants:
        ms = statistics.median(v.times) * 1000
        if v.mode == 'eager':
            base[(v.name, v.depth)] = ms
        tokens = a.batch_size * a.block_size
        rows.append({
            'variant': v.name, 'depth': v.depth, 'mode': v.mode, 'unique_params': v.model.get_num_params(),
            'ms_per_iter': round(ms, 2), 'tokens_per_s': round(tokens / ms * 1000),
            'mfu_pct': round(100 * v.model.estimate_mfu(a.batch_size, ms / 1000, peak), 2),
            'activation_MB': round(v.activation_bytes / 2 ** 20, 2),
            'peak_MB': round(v.peak_bytes / 2 ** 20, 1) if v.peak_bytes else '',
            'compile_s': v.compile_s, 'recompile_at_2x_n_iter_s': v.deeper_s,
        })
    for r in rows:  # ratios against the side-by-side partners
        r['vs_eager'] = round(base.get((r['variant'], r['depth']), r['ms_per_iter']) / r['ms_per_iter'], 3)
    for r in rows:
        if r['variant'].startswith('score') and r['variant'].count(' ') == 1:
            stack = next(s for s in rows if s['depth'] == r['depth'] and s['mode'] == r['mode'] and s['variant'].startswith('stack'))
            r['score_vs_stack_tokens'] = round(r['tokens_per_s'] / stack['tokens_per_s'], 3)
        else:
            r['score_vs_stack_tokens'] = ''

    note = (f": torch {torch.__version__}, device {a.device}, {torch.get_num_threads()} threads, block {a.block_size}, "
            f"batch {a.batch_size}, n_embd {a.n_embd}, median of {a.rounds} round-robin rounds x {a.iters} iterations")
    table = report.write(a.out, 'throughput', rows, note)
    print(table)


if __name__ == '__main__':
    main()
