"""
Test-time depth on Shakespeare: does a SCORE model get better when it iterates longer than it was trained to?

    python bench/test_time_depth.py                   # ~10 min on 2 CPU cores: two models, 2000 iterations each
    python bench/test_time_depth.py --quick           # seconds, on generated text (the test suite runs this)

Trains, with train.py and the nanoGPT CPU recipe, two SCORE models (1 block, dt 0.5) side by side: one at a
fixed n_iter=4, one with randomised depth (Poisson-lognormal around 4, capped at 12). Then, on the same fixed
validation batches, for eval-time n_iter = 1 .. 12 (3x the training depth):
  - val loss of both models (table + PNG),
  - the convergence diagnostics: mean relative update ||h' - h|| / ||h|| per iteration at n_iter=12 (PNG),
  - adaptive exit at n_iter=12: mean iterations used and val loss per exit tolerance.
Writes bench/results/test_time_depth.{md,csv,png}.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from model import load_checkpoint, load_model  # noqa: E402
from train import EVAL_SEED  # noqa: E402
from bench import report  # noqa: E402

RECIPE = ['--device=cpu', '--block_size=64', '--batch_size=12', '--n_layer=1', '--n_head=4', '--n_embd=128',
          '--n_iter=4', '--dt=0.5', '--dropout=0.0', '--max_iters=2000', '--lr_decay_iters=2000', '--eval_iters=20',
          '--eval_interval=500', '--log_interval=100', '--learning_rate=1e-3', '--min_lr=1e-4', '--beta2=0.99',
          '--warmup_iters=100', '--gradient_accumulation_steps=1']
MODELS = {'fixed depth 4': ['--depth_sampler=fixed'],
          'random depth ~4': ['--depth_sampler=poisson_lognormal', '--n_iter_max=12']}
TOLERANCES = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5]  # relative updates here run ~0.1-0.4 per iteration


def parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    p.add_argument('--input', default=os.path.join(REPO, '..', 'shared', 'data', 'tinyshakespeare', 'input.txt'))
    p.add_argument('--max_depth', type=int, default=12)
    p.add_argument('--eval_batches', type=int, default=100)
    p.add_argument('--quick', action='store_true')
    p.add_argument('--out', default=os.path.join(REPO, 'bench', 'results'))
    a = p.parse_args()
    if not os.path.isfile(a.input):
        print(f"error: {a.input} not found; give --input=path/to/tinyshakespeare/input.txt", file=sys.stderr)
        sys.exit(2)
    return a


def sh(*args):
    subprocess.run([sys.executable, *args], cwd=REPO, check=True, stdout=subprocess.DEVNULL)


@torch.no_grad()
def evaluate(model, val, n_iter, exit_tol, batches, batch_size=12):
    """Mean val loss on fixed batches, the per-iteration relative updates, and the mean iterations used."""
    model.config.n_iter, model.config.exit_tol = n_iter, exit_tol
    rng = np.random.default_rng([EVAL_SEED, True])
    bs = model.config.block_size
    losses, iters, norms = [], [], []
    model.update_norms = []
    for _ in range(batches):
        ix = rng.integers(len(val) - bs, size=batch_size)
        x = torch.from_numpy(np.stack([val[i:i + bs].astype(np.int64) for i in ix]))
        y = torch.from_numpy(np.stack([val[i + 1:i + 1 + bs].astype(np.int64) for i in ix]))
        losses.append(model(x, y)[1].item())
        iters.append(model.iters_used.mean().item())
    norms = torch.stack([r for _, _, r in model.update_norms]).view(batches, -1).mean(0).tolist()
    model.update_norms = None
    return float(np.mean(losses)), norms, float(np.mean(iters))


def main():
    a = parse()
    recipe = RECIPE + (['--max_iters=60', '--lr_decay_iters=60', '--eval_interval=60', '--eval_iters=2',
                        '--n_embd=32', '--n_head=2', '--block_size=32'] if a.quick else [])
    depths = list(range(1, (4 if a.quick else a.max_depth) + 1))
    batches = 4 if a.quick else a.eval_batches
    print(f"torch {torch.__version__}, cpu, {torch.get_num_threads()} threads")
    work = tempfile.mkdtemp(prefix='ttd-')
    sh('data/shakespeare_char/prepare.py', a.input, f'--out_dir={work}/data')
    val = np.memmap(f'{work}/data/val.bin', dtype=np.uint16, mode='r')

    rows, curves, diagnostics = [], {}, {}
    for name, extra in MODELS.items():
        out = f"{work}/{name.split()[0]}"
        print(f"training {name} ...", flush=True)
        sh('train.py', *recipe, *extra, f'--data_dir={work}/data', f'--out_dir={out}')
        model = load_model(load_checkpoint(f'{out}/ckpt.pt')).eval()
        curves[name] = []
        for n in depths:
            loss, norms, _ = evaluate(model, val, n, 0.0, batches)
            curves[name].append(loss)
            rows.append({'model': name, 'eval_n_iter': n, 'exit_tol': 0.0, 'val_loss': round(loss, 4),
                         'mean_iters': n})
        diagnostics[name] = norms  # at the deepest evaluation
        for tol in TOLERANCES[1:]:
            loss, _, iters = evaluate(model, val, depths[-1], tol, batches)
            rows.append({'model': name, 'eval_n_iter': depths[-1], 'exit_tol': tol, 'val_loss': round(loss, 4),
                         'mean_iters': round(iters, 2)})

    report.write(a.out, 'test_time_depth', rows)  # the csv; the md below holds the wider tables
    names = list(MODELS)
    lines = [f"`python bench/test_time_depth.py {' '.join(sys.argv[1:])}` (trained at n_iter=4; val loss on "
             f"{batches} fixed batches)\n", '| eval n_iter | ' + ' | '.join(names) + ' |', '|---|' + '---|' * len(names)]
    lines += [f"| {n} | " + ' | '.join(f"{curves[m][k]:.4f}" for m in names) + ' |' for k, n in enumerate(depths)]
    lines += ['', f"Adaptive exit at n_iter={depths[-1]}: val loss (mean iterations used)\n",
              '| exit_tol | ' + ' | '.join(names) + ' |', '|---|' + '---|' * len(names)]
    for tol in TOLERANCES[1:]:
        cells = [next(f"{r['val_loss']:.4f} ({r['mean_iters']})" for r in rows if r['model'] == m and r['exit_tol'] == tol)
                 for m in names]
        lines.append(f"| {tol} | " + ' | '.join(cells) + ' |')
    lines += ['', f"Relative update per iteration at n_iter={depths[-1]} (convergence diagnostics)\n",
              '| model | ' + ' | '.join(str(n) for n in depths) + ' |', '|---|' + '---|' * len(depths)]
    lines += [f"| {m} | " + ' | '.join(f"{r:.3g}" for r in diagnostics[m]) + ' |' for m in names]
    with open(os.path.join(a.out, 'test_time_depth.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for m in names:
        ax1.plot(depths, curves[m], marker='o', label=m)
        ax2.semilogy(depths, diagnostics[m], marker='o', label=m)
    ax1.axvline(4, color='grey', linestyle=':', label='training depth')
    ax1.set(xlabel='eval-time n_iter', ylabel='val loss', title='SCORE 1 block, dt 0.5: test-time depth')
    ax2.set(xlabel='iteration', ylabel="mean ||h' - h|| / ||h||", title=f'convergence at n_iter={depths[-1]}')
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, 'test_time_depth.png'), dpi=110)


if __name__ == '__main__':
    main()
