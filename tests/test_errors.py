"""Every user mistake: one line naming the problem and the fix, exit 2, no traceback. Driven as a user would."""
import os
import pickle

import numpy as np
import pytest
import torch

from conftest import TINY, run, make_text


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Prepared data and a trained tiny checkpoint, shared by the cases below."""
    root = tmp_path_factory.mktemp('errors')
    (root / 'input.txt').write_text(make_text(5000))
    data = root / 'data'
    run('data/shakespeare_char/prepare.py', str(root / 'input.txt'), f'--out_dir={data}')
    out = root / 'out'
    run('train.py', *TINY, f'--data_dir={data}', f'--out_dir={out}', '--max_iters=2', '--eval_interval=2')
    # odd inputs
    (root / 'truncated').mkdir()
    blob = (out / 'ckpt.pt').read_bytes()
    (root / 'truncated' / 'ckpt.pt').write_bytes(blob[:len(blob) // 2])
    (root / 'notckpt').mkdir()
    torch.save({'weights': torch.zeros(3)}, root / 'notckpt' / 'ckpt.pt')
    (root / 'textckpt').mkdir()
    (root / 'textckpt' / 'ckpt.pt').write_text('hello')
    (root / 'otherarch').mkdir()
    ck = torch.load(out / 'ckpt.pt', weights_only=True)
    ck['model_args']['n_embd'] = 64
    torch.save(ck, root / 'otherarch' / 'ckpt.pt')
    (root / 'empty').mkdir()
    (root / 'onlytrain').mkdir()
    (root / 'onlytrain' / 'train.bin').write_bytes((data / 'train.bin').read_bytes())
    (root / 'short').mkdir()
    for split in ('train', 'val'):
        np.arange(20, dtype=np.uint16).tofile(root / 'short' / f'{split}.bin')
    (root / 'bigvocab').mkdir()
    for split in ('train', 'val'):
        (root / 'bigvocab' / f'{split}.bin').write_bytes((data / f'{split}.bin').read_bytes())
    with open(root / 'bigvocab' / 'meta.pkl', 'wb') as f:
        pickle.dump({'vocab_size': 5000}, f)
    (root / 'a_file').write_text('x')
    (root / 'typo.py').write_text('n_iters = 4\n')
    (root / 'broken.py').write_text('batch_size = = 1\n')
    (root / 'latin1.txt').write_bytes('caf\xe9 '.encode('latin-1') * 50)
    (root / 'tiny.txt').write_text('abc')
    return root


def T(root, *extra):
    return ('train.py', *TINY, f'--data_dir={root}/data', f'--out_dir={root}/new_out', *extra)


CASES = {
    # configuration
    'unknown key': (lambda r: T(r, '--n_iters=3'), "unknown setting 'n_iters' in --n_iters; did you mean n_iter?"),
    'wrong type': (lambda r: T(r, '--batch_size=2.5'), 'batch_size must be int'),
    'bool type': (lambda r: T(r, '--compile=yes'), 'compile must be bool'),
    'no value': (lambda r: T(r, '--max_iters'), 'has no value; write --max_iters=VALUE'),
    'missing config file': (lambda r: ('train.py', 'config/nope.py'), 'config file config/nope.py not found'),
    'config file typo': (lambda r: ('train.py', f'{r}/typo.py'), "unknown setting 'n_iters'"),
    'config file syntax': (lambda r: ('train.py', f'{r}/broken.py'), 'failed: SyntaxError'),
    'n_iter < 1': (lambda r: T(r, '--n_iter=0'), 'n_iter must be an integer >= 1'),
    'dt zero': (lambda r: T(r, '--dt=0.0'), 'dt must be in (0, 1]'),
    'dt above one': (lambda r: T(r, '--dt=1.5'), 'dt must be in (0, 1]'),
    'unknown integrator': (lambda r: T(r, '--integrator=rk45'), "unknown integrator 'rk45'"),
    'n_embd vs n_head': (lambda r: T(r, '--n_embd=30', '--n_head=4'), 'n_embd (30) must be divisible by n_head (4)'),
    'batch_size zero': (lambda r: T(r, '--batch_size=0'), 'batch_size must be >= 1'),
    'negative lr': (lambda r: T(r, '--learning_rate=-1.0'), 'learning_rate must be >= 0'),
    'bad init_from': (lambda r: T(r, '--init_from=gpt3'), "init_from must be"),
    'bad dtype': (lambda r: T(r, '--dtype=float8'), 'dtype must be auto'),
    'float16 on cpu': (lambda r: T(r, '--dtype=float16'), 'dtype float16 needs cuda'),
    'no cuda': (lambda r: T(r, '--device=cuda'), "device 'cuda' requested but CUDA is not available"),
    'unknown device': (lambda r: T(r, '--device=tpu'), "unknown device 'tpu'"),
    'bad wandb_mode': (lambda r: T(r, '--wandb_mode=maybe'), 'wandb_mode must be'),
    # data
    'missing bins': (lambda r: T(r, f'--data_dir={r}/empty'), 'train.bin not found; prepare the data first: python'),
    'missing val.bin': (lambda r: T(r, f'--data_dir={r}/onlytrain'), 'val.bin not found'),
    'data shorter than block': (lambda r: T(r, f'--data_dir={r}/short'), 'too few for block_size=32'),
    'out_dir not writable': (lambda r: T(r, f'--out_dir={r}/a_file/out'), 'is not writable'),
    # resume
    'resume without checkpoint': (lambda r: T(r, '--init_from=resume', f'--out_dir={r}/empty'), 'no checkpoint at'),
    'truncated checkpoint': (lambda r: T(r, '--init_from=resume', f'--out_dir={r}/truncated'), 'not a readable checkpoint'),
    'text as checkpoint': (lambda r: T(r, '--init_from=resume', f'--out_dir={r}/textckpt'), 'not a readable checkpoint'),
    'non-checkpoint file': (lambda r: T(r, '--init_from=resume', f'--out_dir={r}/notckpt'), 'not a training checkpoint'),
    'other architecture': (lambda r: ('train.py', '--device=cpu', f'--data_dir={r}/data', '--init_from=resume',
                                      f'--out_dir={r}/otherarch'), "checkpoint's weights do not fit"),
    'arch override on resume': (lambda r: T(r, '--init_from=resume', f'--out_dir={r}/out', '--n_layer=3'),
                                'the checkpoint has n_layer=1 but the config asks for 3'),
    'block_size above checkpoint': (lambda r: T(r, '--init_from=resume', f'--out_dir={r}/out', '--block_size=64'),
                                    'block_size 64 is larger than the checkpoint'),
    'vocab above model': (lambda r: T(r, '--init_from=resume', f'--out_dir={r}/out', f'--data_dir={r}/bigvocab'),
                          "data's vocabulary (5000) is larger than the model's vocab_size"),
    # sampling
    'sample without checkpoint': (lambda r: ('sample.py', f'--out_dir={r}/empty'), 'no checkpoint at'),
    'sample unknown key': (lambda r: ('sample.py', f'--out_dir={r}/out', '--num_sample=2'), 'did you mean num_samples'),
    'prompt outside vocab': (lambda r: ('sample.py', f'--out_dir={r}/out', '--start=Zebra~'), 'outside the model'),
    'missing prompt file': (lambda r: ('sample.py', f'--out_dir={r}/out', f'--start=FILE:{r}/nope.txt'), 'prompt file'),
    'zero temperature': (lambda r: ('sample.py', f'--out_dir={r}/out', '--temperature=0.0'), 'temperature must be > 0'),
    'sample n_iter < 1': (lambda r: ('sample.py', f'--out_dir={r}/out', '--n_iter=-2'), 'n_iter must be an integer >= 1'),
    'sample no cuda': (lambda r: ('sample.py', f'--out_dir={r}/out', '--device=cuda'), 'CUDA is not available'),
    # preparing data
    'prepare missing input': (lambda r: ('data/shakespeare_char/prepare.py', f'{r}/nope.txt'), 'input file'),
    'prepare bad argument': (lambda r: ('data/shakespeare_char/prepare.py', '--bogus'), 'unexpected argument --bogus'),
    'prepare not utf-8': (lambda r: ('data/shakespeare_char/prepare.py', f'{r}/latin1.txt', f'--out_dir={r}/p'), 'not UTF-8'),
    'prepare too short': (lambda r: ('data/shakespeare_char/prepare.py', f'{r}/tiny.txt', f'--out_dir={r}/p'), 'holds only 3'),
}


@pytest.mark.parametrize('name', list(CASES))
def test_bad_input_is_one_clear_line(setup, name):
    make_args, message = CASES[name]
    proc = run(*make_args(setup), check=False)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert 'Traceback' not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
    assert message in lines[0], lines[0]
    assert not os.path.exists(setup / 'new_out' / 'ckpt.pt')  # nothing half-done was written
