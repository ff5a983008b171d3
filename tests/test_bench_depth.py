import csv
import os

from conftest import make_text, run


def test_sample_speed_quick(tmp_path):
    run('bench/sample_speed.py', '--quick', f'--out={tmp_path}')
    with open(tmp_path / 'sample_speed.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['model'] for r in rows] == ['score 1x6', 'stack 6x1']
    assert all(r['same_tokens_within_block'] == 'True' and float(r['tokens_per_s_cache']) > 0 for r in rows)
    assert os.path.exists(tmp_path / 'sample_speed.md')


def test_test_time_depth_quick(tmp_path):
    text = tmp_path / 'input.txt'
    text.write_text(make_text())
    run('bench/test_time_depth.py', '--quick', f'--input={text}', f'--out={tmp_path}')
    with open(tmp_path / 'test_time_depth.csv') as f:
        rows = list(csv.DictReader(f))
    models = {r['model'] for r in rows}
    assert models == {'fixed depth 4', 'random depth ~4'}
    for m in models:
        depths = [int(r['eval_n_iter']) for r in rows if r['model'] == m and float(r['exit_tol']) == 0]
        assert depths == [1, 2, 3, 4]
        exits = [float(r['mean_iters']) for r in rows if r['model'] == m and float(r['exit_tol']) > 0]
        assert len(exits) == 6 and all(1 <= x <= 4 for x in exits) and exits == sorted(exits, reverse=True)
    assert os.path.getsize(tmp_path / 'test_time_depth.png') > 1000
    assert 'Adaptive exit' in (tmp_path / 'test_time_depth.md').read_text()
