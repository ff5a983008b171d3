"""
Stacked depth vs recurrent depth (SCORE) on character-level tinyshakespeare, at nanoGPT's CPU recipe scale.

    python bench/gpt_shakespeare.py            # full: every variant, 3 seeds (~40 min on 2 CPU cores)
    python bench/gpt_shakespeare.py --quick    # a tiny model and a few iterations: checks every code path

Every variant is trained by the same function with the same optimizer, schedule, data order (per seed) and
evaluation batches; only the GPTConfig depth fields (n_layer, n_iter, dt, integrator, n_embd) differ, and all of
them are listed in one table, VARIANTS, below. Writes <out>/gpt_shakespeare.csv (the val-loss curves),
<out>/gpt_shakespeare.md (the tables) and two PNGs (val loss vs iteration, vs training time).
"""
import argparse
import csv
import math
import os
import platform
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from model import GPT, GPTConfig, ConfigError  # noqa: E402

EVAL_SEED = 1234  # the evaluation batches depend on this alone: identical for every variant and seed

# nanoGPT's CPU recipe for shakespeare_char (config/train_shakespeare_char.py, CPU line); quick shrinks it
FULL = dict(block_size=64, batch_size=12, n_embd=128, n_head=4, max_iters=1000, eval_interval=100, eval_iters=20,
            warmup_iters=100, seeds=3)
QUICK = dict(block_size=32, batch_size=4, n_embd=32, n_head=4, max_iters=12, eval_interval=6, eval_iters=2,
             warmup_iters=3, seeds=1)
TRAIN = dict(learning_rate=1e-3, min_lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.1, grad_clip=1.0)


def variants(L):
    """(name, depth settings) for every run; n_embd='match' widens the block to stack-L's parameter count."""
    return [
        (f'stack-{L}', dict(n_layer=L, n_iter=1, dt=1.0)),           # nanoGPT
        (f'skip05-{L}', dict(n_layer=L, n_iter=1, dt=0.5)),          # the update rule alone, no sharing
        (f'score-1x{L}', dict(n_layer=1, n_iter=L, dt=0.5)),         # SCORE: one block, L steps
        (f'score-2x{L // 2}', dict(n_layer=2, n_iter=L // 2, dt=0.5)),
        (f'score-1x{L}-wide', dict(n_layer=1, n_iter=L, dt=0.5, n_embd='match')),
        # integrators at 4 F-evaluations and total time T*dt = 1 (rk4 cannot go past T*dt = 1 in one step of dt <= 1)
        ('euler-1x4-dt0.25', dict(n_layer=1, n_iter=4, dt=0.25)),
        ('heun-1x2-dt0.5', dict(n_layer=1, n_iter=2, dt=0.5, integrator='heun')),
        ('rk4-1x1-dt1', dict(n_layer=1, n_iter=1, dt=1.0, integrator='rk4')),
        # integrators at 2 steps of dt 0.5 (T*dt = 1 again): 2, 4 and 8 F-evaluations; heun is shared with above
        ('euler-1x2-dt0.5', dict(n_layer=1, n_iter=2, dt=0.5)),
        ('rk4-1x2-dt0.5', dict(n_layer=1, n_iter=2, dt=0.5, integrator='rk4')),
    ]


def groups(L):
    """The comparisons the tables and plots are made of: (title, variant names)."""
    return [
        (f'Depth {L}: stack vs skip05 vs SCORE (equal iterations, equal effective depth)',
         [f'stack-{L}', f'skip05-{L}', f'score-1x{L}', f'score-2x{L // 2}']),
        ('Equal unique parameters: a wider shared block', [f'stack-{L}', f'score-1x{L}', f'score-1x{L}-wide']),
        ('Integrators at equal F-evaluations (4) and equal T*dt (1)',
         ['euler-1x4-dt0.25', 'heun-1x2-dt0.5', 'rk4-1x1-dt1']),
        ('Integrators at equal steps (2 x dt 0.5)', ['euler-1x2-dt0.5', 'heun-1x2-dt0.5', 'rk4-1x2-dt0.5']),
    ]


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def load_text(path, block_size):
    """Character-level encoding (sorted set of characters) and nanoGPT's 90/10 train/val split."""
    if not os.path.isfile(path):
        fail(f"input text {path} not found; pass --input=FILE (tinyshakespeare's input.txt)")
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(ids))
    if len(ids) - n <= block_size + 1:
        fail(f"{path} holds {len(ids)} characters; its 10% validation part must exceed block_size+1 ({block_size + 1})")
    return ids[:n], ids[n:], len(chars)


def batch(data, offsets, block_size):
    x = torch.stack([data[i:i + block_size] for i in offsets])
    y = torch.stack([data[i + 1:i + 1 + block_size] for i in offsets])
    return x, y


def make_config(depth, s, vocab_size):
    return GPTConfig(block_size=s['block_size'], vocab_size=vocab_size, n_head=s['n_head'], dropout=0.0, bias=False,
                     **{'n_embd': s['n_embd'], 'integrator': 'euler', **depth})


def unique_params(config):
    with torch.device('meta'):  # counts shapes only: no memory, no init time
        return GPT(config).get_num_params()


def matched_width(depth, s, vocab_size, target):
    """The n_embd (a multiple of n_head) whose unique parameter count is nearest target."""
    widths = range(s['n_head'], 8 * s['n_embd'] + 1, s['n_head'])
    return min(widths, key=lambda w: abs(unique_params(make_config({**depth, 'n_embd': w}, s, vocab_size)) - target))


def lr_at(it, s):
    """Linear warmup, then cosine decay to min_lr at max_iters."""
    if it < s['warmup_iters']:
        return s['learning_rate'] * (it + 1) / (s['warmup_iters'] + 1)
    ratio = (it - s['warmup_iters']) / max(1, s['max_iters'] - s['warmup_iters'])
    return s['min_lr'] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (s['learning_rate'] - s['min_lr'])


def train(config, seed, s, train_data, eval_batches, bar):
    """One run; returns its val-loss curve [(iter, training seconds so far, val loss)] and its step times.
    Time counts training steps only, so evaluation cost does not enter the wall-clock comparison."""
    torch.manual_seed(seed)
    model = GPT(config)
    optimizer = model.configure_optimizers(s['weight_decay'], s['learning_rate'], (s['beta1'], s['beta2']), 'cpu')
    data_rng = np.random.default_rng(seed)  # the same training batches for every variant at this seed

    @torch.no_grad()
    def evaluate():
        model.eval()
        loss = float(np.mean([model(x, y)[1].item() for x, y in eval_batches]))
        model.train()
        return loss

    curve, step_times, elapsed = [(0, 0.0, evaluate())], [], 0.0
    for it in range(s['max_iters']):
        x, y = batch(train_data, data_rng.integers(len(train_data) - s['block_size'], size=s['batch_size']),
                     s['block_size'])
        t0 = time.perf_counter()
        for group in optimizer.param_groups:
            group['lr'] = lr_at(it, s)
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), s['grad_clip'])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step_times.append(time.perf_counter() - t0)
        elapsed += step_times[-1]
        bar.update()
        if (it + 1) % s['eval_interval'] == 0 or it + 1 == s['max_iters']:
            curve.append((it + 1, elapsed, evaluate()))
            if not math.isfinite(curve[-1][2]):
                fail(f"{bar.desc}: val loss is {curve[-1][2]} at iter {it + 1}; the run diverged")
    return curve, step_times


def mean_std(values):
    values = np.asarray(values, dtype=float)
    std = f"{values.std(ddof=1):.3f}" if len(values) > 1 else "n/a"
    return f"{values.mean():.3f} ± {std}"


def write_outputs(out, runs, info, s, L, header):
    """runs: {name: {'config', 'params', 'seeds': {seed: (curve, step_times)}}}."""
    with open(os.path.join(out, 'gpt_shakespeare.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['variant', 'seed', 'iter', 'time_s', 'val_loss', 'n_layer', 'n_iter', 'dt', 'integrator',
                    'n_embd', 'unique_params', 'f_evals', 'ms_per_iter'])
        for name, r in runs.items():
            c = r['config']
            for seed, (curve, step_times) in r['seeds'].items():
                for it, t, loss in curve:
                    w.writerow([name, seed, it, f"{t:.3f}", f"{loss:.5f}", c.n_layer, c.n_iter, c.dt, c.integrator,
                                c.n_embd, r['params'], c.n_applications, f"{1000 * np.median(step_times):.2f}"])

    def val_at(name, x_of_point, x):
        """Per-seed val loss at x on the curve (iterations or seconds), linearly interpolated between evals."""
        return [np.interp(x, [x_of_point(p) for p in curve], [p[2] for p in curve])
                for curve, _ in runs[name]['seeds'].values()]

    half = s['max_iters'] // 2
    lines = header + ['']
    budgets = {}
    for title, names in groups(L):
        # the time budget is the shortest run in the group, so every run's curve reaches it
        budget = min(curve[-1][1] for n in names for curve, _ in runs[n]['seeds'].values())
        budgets[title] = budget
        lines += [f"### {title}", '',
                  f"| variant | n_layer x n_iter | integrator | dt | T*dt | n_embd | unique params | F-evals/forward "
                  f"| ms/iter | val @ iter {half} | val @ iter {s['max_iters']} | val @ {budget:.3g} s |",
                  '|' + '---|' * 12]
        for n in names:
            c, r = runs[n]['config'], runs[n]
            ms = np.mean([1000 * np.median(st) for _, st in r['seeds'].values()])
            lines.append(f"| {n} | {c.n_layer} x {c.n_iter} | {c.integrator} | {c.dt:g} | {c.n_iter * c.dt:g} "
                         f"| {c.n_embd} | {r['params']:,} | {c.n_applications} | {ms:.1f} "
                         f"| {mean_std(val_at(n, lambda p: p[0], half))} "
                         f"| {mean_std(val_at(n, lambda p: p[0], s['max_iters']))} "
                         f"| {mean_std(val_at(n, lambda p: p[1], budget))} |")
        lines.append('')
    lines += ["![val loss vs iteration](gpt_shakespeare_iter.png)", '',
              "![val loss vs training time](gpt_shakespeare_time.png)", '']
    with open(os.path.join(out, 'gpt_shakespeare.md'), 'w') as f:
        f.write('\n'.join(lines))

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    for axis, index, label in (('iter', 0, 'iteration'), ('time', 1, 'training time (s)')):
        fig, axes = plt.subplots(2, 2, figsize=(13, 9))
        for ax, (title, names) in zip(axes.flat, groups(L)):
            shown = []
            for n in names:
                curves = np.array([curve for curve, _ in runs[n]['seeds'].values()])  # seeds x points x 3
                x, y = curves[:, :, index].mean(0), curves[:, :, 2]
                ax.plot(x, y.mean(0), label=n)
                ax.fill_between(x, y.min(0), y.max(0), alpha=0.2)  # the spread over seeds
                shown += list(y[:, 1:].ravel())
            # scale to the evals after iter 0: the untrained loss (~ln vocab) would flatten the rest
            lo, hi = min(shown), max(shown)
            ax.set_ylim(lo - 0.05 * (hi - lo + 1e-3), hi + 0.05 * (hi - lo + 1e-3))
            if axis == 'time':
                ax.axvline(budgets[title], color='gray', ls='--', lw=0.8)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel(label)
            ax.set_ylabel('val loss')
            ax.legend(fontsize=8)
        fig.suptitle(f"tinyshakespeare char: val loss vs {label} ({info})", fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f'gpt_shakespeare_{axis}.png'), dpi=110)
        plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true', help='tiny model and iterations: a smoke run of every code path')
    p.add_argument('--input', default=os.path.join(REPO, '..', 'shared', 'data', 'tinyshakespeare', 'input.txt'))
    p.add_argument('--out', help='default bench/results (quick: bench/results/quick, so that a smoke run never '
                                 'overwrites full results)')
    p.add_argument('--n_layer', type=int, default=4, help='L: depth of the stack; SCORE runs 1 x L and 2 x L/2')
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads; 1 keeps timings steady on cores shared with other jobs')
    for key in ('max_iters', 'eval_interval', 'eval_iters', 'seeds'):
        p.add_argument(f'--{key}', type=int, help=f"default: {FULL[key]} (quick: {QUICK[key]})")
    p.error = lambda message: fail(f"{message} (see --help)")  # one line, not argparse's usage block
    args = p.parse_args()
    s = {**(QUICK if args.quick else FULL), **TRAIN}
    s.update({k: getattr(args, k) for k in ('max_iters', 'eval_interval', 'eval_iters', 'seeds')
              if getattr(args, k) is not None})
    for key, value in [(k, s[k]) for k in ('max_iters', 'eval_interval', 'eval_iters', 'seeds')] + [
            ('threads', args.threads)]:
        if value < 1:
            fail(f"--{key} must be >= 1, got {value}")
    if args.n_layer < 2 or args.n_layer % 2:
        fail(f"--n_layer must be even and >= 2 (SCORE also runs 2 x L/2), got {args.n_layer}")
    L = args.n_layer
    args.out = args.out or os.path.join(REPO, 'bench', 'results', *(['quick'] if args.quick else []))
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        fail(f"cannot create --out {args.out} ({e.strerror})")

    torch.set_num_threads(args.threads)
    train_data, val_data, vocab_size = load_text(args.input, s['block_size'])
    info = (f"torch {torch.__version__}, device cpu, {torch.get_num_threads()} thread(s), python "
            f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
    print(info)
    rng = np.random.default_rng(EVAL_SEED)
    eval_batches = [batch(val_data, rng.integers(len(val_data) - s['block_size'], size=s['batch_size']),
                          s['block_size']) for _ in range(s['eval_iters'])]

    start, runs = time.time(), {}
    try:
        for name, depth in variants(L):
            if depth.get('n_embd') == 'match':
                target = unique_params(make_config(dict(n_layer=L), s, vocab_size))
                depth = {**depth, 'n_embd': matched_width(depth, s, vocab_size, target)}
            config = make_config(depth, s, vocab_size)
            runs[name] = dict(config=config, params=unique_params(config), seeds={})
    except ConfigError as e:
        fail(str(e))
    seeds = list(range(s['seeds']))
    with tqdm(total=len(runs) * len(seeds) * s['max_iters'], unit='it', dynamic_ncols=True) as bar:
        for seed in seeds:  # seed-major: each variant's seeds spread over the whole run, as does any load burst
            for name, r in runs.items():
                bar.set_description(f"seed {seed} {name}")
                r['seeds'][seed] = train(r['config'], seed, s, train_data, eval_batches, bar)

    command = 'python bench/gpt_shakespeare.py ' + ' '.join(sys.argv[1:])
    header = [f"# Stacked vs recurrent depth (SCORE) on tinyshakespeare char{' (QUICK smoke run)' if args.quick else ''}",
              '', f"Command: `{command.strip()}`", '', f"Environment: {info}", '',
              f"Input: {os.path.basename(args.input)}, {len(train_data) + len(val_data):,} characters, vocab "
              f"{vocab_size}, 90/10 split. Whole benchmark: {(time.time() - start) / 60:.1f} min wall time"
              f"{'' if args.quick else ' (max_iters and seeds of full mode are sized to fit ~40 min on 2 shared cores)'}.",
              '',
              f"Every run: block {s['block_size']}, batch {s['batch_size']}, n_head {s['n_head']}, dropout 0, no bias, "
              f"AdamW lr {s['learning_rate']} (betas {s['beta1']}, {s['beta2']}, weight decay {s['weight_decay']}), "
              f"{s['warmup_iters']} warmup iters then cosine to {s['min_lr']} at max_iters={s['max_iters']}, "
              f"grad clip {s['grad_clip']}; {len(seeds)} seed(s) {seeds} (init and batch order; the same batches for "
              f"every variant at a seed); val loss on {s['eval_iters']} fixed batches (seed {EVAL_SEED}), every "
              f"{s['eval_interval']} iters.", '',
              "Values are mean ± std over seeds. ms/iter is the median training step (forward, backward, clip, "
              "AdamW), averaged over seeds. Time is training time only (evaluation excluded), measured on CPU cores "
              "shared with other jobs, so it is noisier than the iteration axis. Each table's time budget is its "
              "shortest run; val there is read off the loss-vs-time curve by linear interpolation between evals. "
              "F-evals/forward = n_layer x n_iter x integrator stages; T*dt = n_iter x dt. Unique params count a "
              "shared block once and include the (tied) token embedding, not the position embedding.", '']
    write_outputs(args.out, runs, info, s, L, header)
    print(open(os.path.join(args.out, 'gpt_shakespeare.md')).read())
    print(f"wrote {args.out}/gpt_shakespeare.csv, .md, _iter.png, _time.png")


if __name__ == '__main__':
    main()
