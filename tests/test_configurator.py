import pytest

from configurator import configure
from model import ConfigError

DEFAULTS = dict(out_dir='out', batch_size=12, learning_rate=6e-4, compile=True, dtype='auto', n_iter=1, dt=1.0)


def test_overrides_apply_left_to_right_with_types():
    c = configure(DEFAULTS, ['--batch_size=32', '--compile=False', '--out_dir=runs/a', '--batch_size=64'])
    assert c['batch_size'] == 64 and c['compile'] is False and c['out_dir'] == 'runs/a'
    assert DEFAULTS['batch_size'] == 12  # defaults untouched


def test_int_is_accepted_for_float_and_becomes_float():
    c = configure(DEFAULTS, ['--dt=1', '--learning_rate=1e-3'])
    assert c['dt'] == 1.0 and isinstance(c['dt'], float) and c['learning_rate'] == 1e-3


def test_string_setting_keeps_digits_as_text():
    assert configure(DEFAULTS, ['--out_dir=123'])['out_dir'] == '123'


def test_config_file_then_override(tmp_path):
    cfg = tmp_path / 'c.py'
    cfg.write_text("import math\nbatch_size = 24\nn_iter = 2 * 3\nlearning_rate = batch_size * 1e-5\n")
    c = configure(DEFAULTS, [str(cfg), '--n_iter=8'])
    assert c['batch_size'] == 24 and c['n_iter'] == 8 and c['learning_rate'] == pytest.approx(24e-5)


@pytest.mark.parametrize('argv,message', [
    (['--batch_sise=3'], "unknown setting 'batch_sise' in --batch_sise; did you mean batch_size?"),
    (['--batch_size=3.5'], 'batch_size must be int'),
    (['--compile=1'], 'compile must be bool'),
    (['--n_iter=four'], 'n_iter must be int'),
    (['--batch_size'], 'has no value; write --batch_size=VALUE'),
    (['config/does_not_exist.py'], 'config file config/does_not_exist.py not found'),
])
def test_mistakes_are_one_clear_line(argv, message):
    with pytest.raises(ConfigError) as e:
        configure(DEFAULTS, argv)
    assert message in str(e.value) and '\n' not in str(e.value)


def test_config_file_errors(tmp_path):
    typo = tmp_path / 'typo.py'
    typo.write_text("n_iters = 4\n")
    with pytest.raises(ConfigError, match="unknown setting 'n_iters'.*did you mean n_iter"):
        configure(DEFAULTS, [str(typo)])
    broken = tmp_path / 'broken.py'
    broken.write_text("batch_size = = 3\n")
    with pytest.raises(ConfigError, match='failed: SyntaxError'):
        configure(DEFAULTS, [str(broken)])
