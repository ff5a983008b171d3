import csv
import os

from conftest import run


def test_throughput_quick_writes_side_by_side_table(tmp_path):
    proc = run('bench/throughput.py', '--quick', f'--out={tmp_path}')
    assert 'device peak used for MFU' in proc.stdout
    with open(tmp_path / 'throughput.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['variant'] for r in rows] == ['stack 2x1', 'score 1x2', 'score 1x2 backprop last 1', 'score 1x2 checkpointed']
    stack, score, truncated, checkpointed = rows
    assert float(truncated['activation_MB']) < float(score['activation_MB'])
    assert float(checkpointed['activation_MB']) < float(score['activation_MB'])
    assert int(score['unique_params']) < int(stack['unique_params'])
    assert float(score['activation_MB']) > 0 and float(stack['ms_per_iter']) > 0
    ratio = float(score['tokens_per_s']) / float(stack['tokens_per_s'])
    assert abs(float(score['score_vs_stack_tokens']) - ratio) < 0.01
    assert os.path.exists(tmp_path / 'throughput.md')
