import csv
import importlib.util
import math
import os

from conftest import REPO, make_text, run

SCRIPT = os.path.join('bench', 'gpt_shakespeare.py')


def bench_module():
    spec = importlib.util.spec_from_file_location('gpt_shakespeare', os.path.join(REPO, SCRIPT))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_every_variant(tmp_path):
    text = tmp_path / 'input.txt'
    text.write_text(make_text())
    out = tmp_path / 'results'
    proc = run(SCRIPT, '--quick', f'--input={text}', f'--out={out}', timeout=120)
    assert 'torch ' in proc.stdout and 'thread' in proc.stdout  # the environment is printed
    for name in ('gpt_shakespeare.csv', 'gpt_shakespeare.md', 'gpt_shakespeare_iter.png', 'gpt_shakespeare_time.png'):
        assert (out / name).stat().st_size > 0, name

    with open(out / 'gpt_shakespeare.csv') as f:
        rows = list(csv.DictReader(f))
    names = [name for name, _ in bench_module().variants(4)]
    assert {r['variant'] for r in rows} == set(names)
    assert all(math.isfinite(float(r['val_loss'])) and float(r['val_loss']) > 0 for r in rows)
    for name in names:  # quick: 1 seed, evals at iters 0, 6, 12
        assert [int(r['iter']) for r in rows if r['variant'] == name] == [0, 6, 12], name

    params = {r['variant']: int(r['unique_params']) for r in rows}
    assert params['score-1x4'] < params['stack-4'] / 3  # one shared block instead of four
    assert abs(params['score-1x4-wide'] - params['stack-4']) < 0.1 * params['stack-4']  # the width was matched
    evals = {r['variant']: int(r['f_evals']) for r in rows}
    assert evals['euler-1x4-dt0.25'] == evals['heun-1x2-dt0.5'] == evals['rk4-1x1-dt1'] == 4
    assert (evals['euler-1x2-dt0.5'], evals['rk4-1x2-dt0.5']) == (2, 8)

    md = (out / 'gpt_shakespeare.md').read_text()
    assert all(f"| {name} |" in md for name in names)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    cases = [
        ['--input', str(tmp_path / 'missing.txt')],
        ['--quick', '--n_layer=3'],
        ['--quick', '--seeds=0'],
        ['--quick', '--max_iters=ten'],
    ]
    for args in cases:
        proc = run(SCRIPT, *args, f'--out={tmp_path}', check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert 'Traceback' not in proc.stderr and proc.stderr.strip().count('\n') == 0, proc.stderr
        assert proc.stderr.startswith('error:'), proc.stderr
