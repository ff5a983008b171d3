import json
import os
import random
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), 'shared', 'data')
sys.path.insert(0, REPO)

# a model small enough that a few dozen CPU iterations take seconds
TINY = ['--device=cpu', '--block_size=32', '--batch_size=8', '--n_layer=1', '--n_head=2', '--n_embd=32',
        '--n_iter=3', '--dt=0.5', '--dropout=0.0', '--learning_rate=3e-3', '--warmup_iters=0',
        '--eval_iters=5', '--gradient_accumulation_steps=1', '--compile=False']


def run(script, *args, check=True, env=None, timeout=300):
    """Run an entry point of the repo as a user would, offline."""
    full_env = dict(os.environ, HF_DATASETS_OFFLINE='1', HF_HUB_OFFLINE='1', WANDB_MODE='disabled', OMP_NUM_THREADS='1')
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, os.path.join(REPO, script), *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_log(out_dir):
    with open(os.path.join(out_dir, 'log.jsonl')) as f:
        return [json.loads(line) for line in f]


def make_text(n_chars=30000, seed=0):
    """Deterministic play-like text: speakers and lines built from a small vocabulary."""
    rng = random.Random(seed)
    words = 'the king my lord thou art good sweet love death night fair what shall come hence'.split()
    speakers = ['ROMEO', 'JULIET', 'NURSE', 'FRIAR']
    parts, size = [], 0
    while size < n_chars:
        line = f"{rng.choice(speakers)}:\n" + ' '.join(rng.choice(words) for _ in range(rng.randint(4, 10))) + '.\n\n'
        parts.append(line)
        size += len(line)
    return ''.join(parts)


@pytest.fixture
def char_data(tmp_path):
    """A prepared character-level dataset made from generated text."""
    text_path = tmp_path / 'input.txt'
    text_path.write_text(make_text())
    data_dir = tmp_path / 'data'
    run('data/shakespeare_char/prepare.py', str(text_path), f'--out_dir={data_dir}')
    return str(data_dir)
