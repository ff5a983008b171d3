"""torchrun on CPU (gloo): DDP trains on the same global batch as one process, and an elastic restart resumes."""
import os
import subprocess
import sys

from conftest import REPO, TINY, run, read_log

# rank 1 kills itself (SIGKILL, no cleanup) at iteration 15 of the first attempt; torchrun restarts the group
DYING_TRAIN = '''
import os, signal, sys
sys.path.insert(0, {repo!r})
import train
lr_at = train.lr_at
def dying(it, c):
    if it == 15 and os.environ['RANK'] == '1' and os.environ['TORCHELASTIC_RESTART_COUNT'] == '0':
        os.kill(os.getpid(), signal.SIGKILL)
    return lr_at(it, c)
train.lr_at = dying
sys.exit(train.main(sys.argv[1:]))
'''


def torchrun(script, *args, nproc=2, extra=()):
    env = dict(os.environ, OMP_NUM_THREADS='1', HF_DATASETS_OFFLINE='1', HF_HUB_OFFLINE='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}', *extra,
           script, *args]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def losses(out):
    return {r['iter']: r['loss'] for r in read_log(out) if 'loss' in r}


def test_two_processes_equal_one_with_the_same_global_batch(char_data, tmp_path):
    args = [*TINY, f'--data_dir={char_data}', '--max_iters=19', '--eval_interval=1000', '--log_interval=1',
            '--gradient_accumulation_steps=2', '--grad_clip=1.0']
    single, double = str(tmp_path / 'single'), str(tmp_path / 'ddp')
    run('train.py', *args, f'--out_dir={single}')
    proc = torchrun('train.py', *args, f'--out_dir={double}')
    assert '2 process(es) x 1 micro-steps' in proc.stdout
    a, b = losses(single), losses(double)
    assert sorted(a) == sorted(b) == list(range(20))
    for i in a:
        assert abs(a[i] - b[i]) < 1e-4 * max(1.0, abs(a[i])), (i, a[i], b[i])
    assert a[19] < a[0] - 0.3  # and they did learn


def test_elastic_restart_resumes_from_last_checkpoint(char_data, tmp_path):
    script = tmp_path / 'dying.py'
    script.write_text(DYING_TRAIN.format(repo=REPO))
    out = str(tmp_path / 'out')
    proc = torchrun(str(script), *TINY, f'--data_dir={char_data}', f'--out_dir={out}', '--max_iters=20',
                    '--eval_interval=10', '--log_interval=1', '--gradient_accumulation_steps=2',
                    extra=['--max-restarts=1'])
    assert 'resuming from' in proc.stdout
    # the first attempt got through 14 (rank 1 died in 15); the restart went back to the checkpoint at 10
    assert [r['iter'] for r in read_log(out) if 'loss' in r] == list(range(15)) + list(range(10, 21))
