"""
MLP depth: plain, residual and skip05 stacks of unshared Linear+ReLU layers against SCORE, which applies ONE
shared Linear+ReLU block T times with h <- (1 - dt) * h + dt * F(h). Same width, input layer and head for all;
the update goes through the same depth loop as bench/gnn_esol.py (imported from there, with the training loop,
the ESOL loader and the table writer, so the two benches cannot drift apart).

Tasks that need no download: sklearn's digits (accuracy), make_friedman1 (RMSE), and ESOL from RDKit
descriptors (RMSE; the head of the paper's GNN is such an MLP).

    python bench/mlp.py            # full mode: depths 2..32, 3 seeds, 40 epochs
    python bench/mlp.py --quick    # a smoke run in a few seconds
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gnn_esol import (REPO, TABLEAUX, BenchError, command_line, depth_loop, descriptors, environment, fit, load_esol,  # noqa: E402
                      main_guard, random_split, standardise, summary_table, unique_params, variants, write_csv)


def mlp_variants(depth, dt):
    """The GNN bench's settings, plus the plain stack h = F(h) (contractive rule at dt=1) that MLPs also have."""
    v = variants(depth, depth, dt)
    return {'plain': dict(v['skip05'], dt=1.0), 'residual': v['stacked'], 'skip05': v['skip05'], 'score': v['score']}


class MLP(nn.Module):
    """Linear input -> depth loop over Linear+ReLU blocks -> Linear head."""

    def __init__(self, n_in, n_out, width, n_layer, n_iter, dt, integrator, rule):
        super().__init__()
        self.n_iter, self.dt, self.integrator, self.rule = n_iter, dt, integrator, rule
        self.inp = nn.Linear(n_in, width)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.ReLU()) for _ in range(n_layer))
        self.head = nn.Linear(width, n_out)

    def forward(self, x):
        return self.head(depth_loop(self.inp(x), self.blocks, self.n_iter, self.dt, self.integrator, self.rule))


class Batches:
    """Re-iterable minibatches of (x, y), reshuffled each pass by a seeded generator."""

    def __init__(self, x, y, batch_size, seed=0):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.gen = torch.Generator().manual_seed(seed)

    def __iter__(self):
        order = torch.randperm(len(self.x), generator=self.gen)
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            yield self.x[idx], self.y[idx]


def load_task(name, csv_path, limit=None):
    """(x, y, n_out, metric name) of a task, its first `limit` rows; classes as int64, regression float32."""
    from sklearn.datasets import load_digits, make_friedman1
    if name == 'digits':
        x, y = load_digits(return_X_y=True)
        return x[:limit], y[:limit].astype(np.int64), 10, 'accuracy'
    if name == 'friedman1':
        x, y = make_friedman1(n_samples=2000, n_features=10, noise=1.0, random_state=0)
        return x[:limit], y[:limit].astype(np.float32), 1, 'RMSE'
    smiles, y, origin = load_esol(csv_path)
    smiles, y = smiles[:limit], y[:limit]  # before the descriptors, which are the slow part
    print(f"ESOL: {len(smiles)} molecules from {origin}; computing RDKit descriptors")
    return descriptors(smiles), y, 1, 'RMSE'


def run_task(task, args, bar):
    x_all, y_all, n_out, metric_name = load_task(task, args.csv, 300 if args.quick else None)
    classify = metric_name == 'accuracy'
    rows = []
    for seed in range(args.seeds):
        train, val, test = random_split(len(x_all), seed)
        x = torch.from_numpy(standardise(x_all, train))
        # regression targets standardised by the training split, so one lr suits every task; RMSE is reported
        # back in the task's own units
        y_mean, y_std = (0.0, 1.0) if classify else (y_all[train].mean(), y_all[train].std())
        y = torch.from_numpy(y_all if classify else (y_all - y_mean) / y_std)

        @torch.no_grad()
        def metric(model, batches):
            model.eval()
            (xb, yb), = batches
            out = model(xb)
            if classify:
                return (out.argmax(1) == yb).float().mean().item()
            return math.sqrt(F.mse_loss(out.squeeze(-1), yb).item()) * y_std

        def loss_of(model, batch):
            out = model(batch[0])
            return F.cross_entropy(out, batch[1]) if classify else F.mse_loss(out.squeeze(-1), batch[1])

        for depth in args.depths:
            for name, cfg in mlp_variants(depth, args.dt).items():
                torch.manual_seed(seed)
                model = MLP(x.shape[1], n_out, args.width, **cfg)
                result = fit(model, Batches(x[train], y[train], args.batch_size, seed), loss_of, metric,
                             [(x[val], y[val])], [(x[test], y[test])], args.epochs, args.lr, args.weight_decay,
                             args.targets[task], maximize=classify)
                rows.append(dict(task=task, metric=metric_name, variant=name, depth=depth, seed=seed,
                                 params=unique_params(model),
                                 f_evals=cfg['n_layer'] * cfg['n_iter'] * len(TABLEAUX[cfg['integrator']][1]),
                                 epochs=args.epochs, **result))
                bar.update()
                bar.set_postfix_str(f"{task} {name} d{depth} {result['test']:.3f}")
    return rows


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--csv', help='ESOL csv (columns "smiles", "measured log solubility in mols per litre")')
    p.add_argument('--out', default=os.path.join(REPO, 'bench', 'results'), help='results directory')
    p.add_argument('--quick', action='store_true', help='small data, two depths, a few epochs')
    p.add_argument('--tasks', default='digits,friedman1,esol')
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--epochs', type=int, default=40)
    p.add_argument('--depths', default='2,4,8,16,32')
    p.add_argument('--width', type=int, default=128)
    p.add_argument('--dt', type=float, default=0.25, help='SCORE step size')
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--weight_decay', type=float, default=1e-5)
    p.add_argument('--batch_size', type=int, default=128)
    p.add_argument('--targets', default='digits=0.95,friedman1=1.5,esol=0.8',
                   help='validation metric that counts as converged, per task')
    p.add_argument('--threads', type=int, default=1, help='1: on shared cores a second thread slows training')
    args = p.parse_args()
    if args.quick:
        args.seeds, args.epochs, args.depths = 2, 3, '2,4'
    args.tasks = args.tasks.split(',')
    if set(args.tasks) - {'digits', 'friedman1', 'esol'}:
        raise BenchError(f"--tasks takes digits, friedman1 and/or esol, got {','.join(args.tasks)}")
    if not 0 < args.dt < 1:
        raise BenchError(f"--dt must be in (0, 1), got {args.dt}")
    try:
        args.depths = [int(d) for d in args.depths.split(',')]
        args.targets = {k: float(v) for k, v in (kv.split('=') for kv in args.targets.split(','))}
    except ValueError:
        raise BenchError("--depths takes integers like 2,4,8 and --targets pairs like digits=0.95,esol=0.8")
    if args.csv and not os.path.isfile(args.csv):  # fail before any training, not when the esol task starts
        raise BenchError(f"--csv file not found: {args.csv}")
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    from tqdm import tqdm
    print(environment())
    bar = tqdm(total=len(args.tasks) * args.seeds * len(args.depths) * 4, desc='mlp', file=sys.stdout)
    rows = [r for task in args.tasks for r in run_task(task, args, bar)]
    bar.close()
    report(args, rows)


def report(args, rows):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    os.makedirs(args.out, exist_ok=True)
    write_csv(os.path.join(args.out, 'mlp.csv'), rows)
    mode = 'quick' if args.quick else 'full'
    md = [f"# MLP: plain / residual / skip05 stacking vs SCORE ({mode} mode)", '',
          f"`{command_line()}` -- {environment()}", '',
          f"Width {args.width}, Linear+ReLU blocks, Adam lr {args.lr}, weight decay {args.weight_decay}, batch "
          f"{args.batch_size}, {args.epochs} epochs, random 80/10/10 split per seed; SCORE: one shared block, T = "
          f"depth steps, dt={args.dt}. Test metric at the best-validation epoch; epochs to target = first epoch whose "
          f"validation metric reaches {', '.join(f'{k} {v}' for k, v in args.targets.items())}; s/epoch is training "
          f"time only, on shared cores."]
    fig, axes = plt.subplots(1, len(args.tasks), figsize=(4.5 * len(args.tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], args.tasks):
        task_rows = [r for r in rows if r['task'] == task]
        metric_name = task_rows[0]['metric']
        md += ['', f"## {task} (test {metric_name})", '', summary_table(task_rows, ['variant', 'depth'], metric_name)]
        for name in dict.fromkeys(r['variant'] for r in task_rows):
            means = [np.nanmean([r['test'] for r in task_rows if r['variant'] == name and r['depth'] == d])
                     for d in args.depths]
            ax.plot(args.depths, means, 'o-', label=name)
        ax.set(xlabel='effective depth', ylabel=f'test {metric_name}', title=task)
        ax.set_xscale('log', base=2)
        ax.set_xticks(args.depths, [str(d) for d in args.depths])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, 'mlp.png'), dpi=120)
    with open(os.path.join(args.out, 'mlp.md'), 'w') as f:
        f.write('\n'.join(md) + '\n')
    print('\n'.join(md))


if __name__ == '__main__':
    main_guard(main)
