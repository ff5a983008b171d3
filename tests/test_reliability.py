"""A run is never lost: atomic checkpoints, signals, non-finite steps, fixed evaluation batches."""
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO, TINY, run, read_log
from model import save_checkpoint, load_checkpoint

# Runs train.main with faults injected from outside the product code: NAN_FROM/NAN_TO make the loss NaN on those
# iterations (the current iteration is seen through lr_at, which train.py calls once per iteration).
FAULTY_TRAIN = '''
import os, sys
sys.path.insert(0, {repo!r})
import train
state = {{'it': -1}}
lr_at = train.lr_at
def spy(it, c):
    state['it'] = it
    return lr_at(it, c)
train.lr_at = spy
forward = train.GPT.forward
def faulty(self, idx, targets=None):
    logits, loss = forward(self, idx, targets)
    if loss is not None and int(os.environ['NAN_FROM']) <= state['it'] <= int(os.environ['NAN_TO']):
        loss = loss * float('nan')
    return logits, loss
train.GPT.forward = faulty
sys.exit(train.main(sys.argv[1:]))
'''


def train_args(data, out, *extra):
    return [*TINY, f'--data_dir={data}', f'--out_dir={out}', '--log_interval=1', *extra]


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / 'ckpt.pt')
    good = {'model': {'w': torch.ones(3)}, 'model_args': {}, 'iter_num': 1}
    save_checkpoint(path, good)

    real_save = torch.save

    def crash_midway(obj, f):
        real_save(obj, f)
        f.truncate(10)  # half a file on disk, then the process "dies"
        raise OSError('disk full')
    monkeypatch.setattr(torch, 'save', crash_midway)
    with pytest.raises(OSError):
        save_checkpoint(path, {'model': {'w': torch.zeros(3)}, 'model_args': {}, 'iter_num': 2})
    monkeypatch.undo()
    assert load_checkpoint(path)['iter_num'] == 1  # the previous checkpoint survives whole
    assert os.listdir(tmp_path) == ['ckpt.pt']     # and no temporary file is left behind


def test_nan_steps_are_skipped_and_counted(char_data, tmp_path):
    script = tmp_path / 'faulty.py'
    script.write_text(FAULTY_TRAIN.format(repo=REPO))
    out = tmp_path / 'out'
    proc = run(str(script), *train_args(char_data, out, '--max_iters=12', '--eval_interval=100', '--max_bad_steps=3'),
               env={'NAN_FROM': '5', 'NAN_TO': '6'})
    assert 'iter 5: non-finite loss or gradient, step skipped (1 in a row)' in proc.stdout
    assert 'iter 6: non-finite loss or gradient, step skipped (2 in a row)' in proc.stdout
    log = read_log(out)
    assert [r['iter'] for r in log if 'skipped' in r] == [5, 6]
    losses = {r['iter']: r['loss'] for r in log if 'loss' in r}
    assert all(math.isfinite(losses[i]) for i in range(13) if i not in (5, 6)) and max(losses) == 12


def test_too_many_nan_steps_stop_with_last_good_state(char_data, tmp_path):
    script = tmp_path / 'faulty.py'
    script.write_text(FAULTY_TRAIN.format(repo=REPO))
    out = tmp_path / 'out'
    proc = run(str(script), *train_args(char_data, out, '--max_iters=50', '--eval_interval=100', '--max_bad_steps=3'),
               env={'NAN_FROM': '4', 'NAN_TO': '1000'}, check=False)
    assert proc.returncode == 1
    assert '3 non-finite steps in a row; stopped' in proc.stderr and 'Traceback' not in proc.stderr
    ckpt = load_checkpoint(str(out / 'ckpt.pt'))
    assert ckpt['iter_num'] == 6
    assert all(torch.isfinite(v).all() for v in ckpt['model'].values())  # the weights from before the NaNs


def start_training(data, out):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, 'train.py'),
                             *train_args(data, out, '--max_iters=100000', '--eval_interval=100000')],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = os.path.join(out, 'log.jsonl')
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until it is really training
        if os.path.exists(log) and sum(1 for _ in open(log)) >= 5:
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f'training did not start: {proc.communicate()}')


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_checkpoint_and_exits_cleanly(char_data, tmp_path, signum):
    out = str(tmp_path / 'out')
    proc = start_training(char_data, out)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    line = [l for l in stdout.splitlines() if l.startswith('stopped by signal at iter')]
    assert len(line) == 1 and 'continue with --init_from=resume' in line[0]
    stopped_at = int(line[0].split('iter ')[1].split(';')[0])
    assert load_checkpoint(os.path.join(out, 'ckpt.pt'))['iter_num'] == stopped_at
    last_logged = max(r['iter'] for r in read_log(out) if 'loss' in r)
    assert last_logged == stopped_at - 1  # nothing trained was lost
    run('train.py', *train_args(char_data, out, f'--max_iters={stopped_at + 2}', '--init_from=resume',
                                '--eval_interval=100000'))
    assert max(r['iter'] for r in read_log(out) if 'loss' in r) == stopped_at + 2


def test_second_signal_exits_at_once(char_data, tmp_path):
    proc = start_training(char_data, str(tmp_path / 'out'))
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130 and 'second signal' in stdout


def test_eval_batches_are_fixed_across_seeds_and_runs(char_data, tmp_path):
    out = str(tmp_path / 'out')
    run('train.py', *train_args(char_data, out, '--max_iters=4', '--eval_interval=4'))
    vals = []
    for seed in (1, 2, 2):
        run('train.py', *train_args(char_data, out, '--init_from=resume', '--eval_only=True', f'--seed={seed}'))
        vals.append(read_log(out)[-1]['val_loss'])
    trained = [r['val_loss'] for r in read_log(out) if r.get('iter') == 4 and 'val_loss' in r][0]
    assert vals == [trained] * 3
