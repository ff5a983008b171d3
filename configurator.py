"""
nanoGPT's configurator as a function: every entry point declares its settings as a dict of defaults, then

    python train.py config/some_config.py --batch_size=32 --compile=False

runs the config files (plain Python assignments) and applies --key=value overrides left to right. Every name
must be a known setting and keep its type (an int is fine where a float is expected); a mistake raises
ConfigError with one line that says what to type instead.
"""
import ast
import difflib
import os
import sys

from model import ConfigError


def _check(key, value, defaults, where):
    if key not in defaults:
        close = difflib.get_close_matches(key, defaults, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"unknown setting {key!r} in {where}{hint}")
    default = defaults[key]
    if default is None or type(value) is type(default):
        return value
    if isinstance(default, float) and type(value) is int:
        return float(value)
    raise ConfigError(f"{key} must be {type(default).__name__} (like {default!r}), got {value!r} in {where}")


def configure(defaults, argv):
    """Return a copy of defaults updated by the config files and --key=value arguments in argv."""
    config = dict(defaults)
    for arg in argv:
        if not arg.startswith('--'):
            if not os.path.isfile(arg):
                raise ConfigError(f"config file {arg} not found; give a path like config/score_shakespeare.py")
            namespace = dict(config, __file__=arg)  # a config may compute from the settings so far
            try:
                with open(arg) as f:
                    exec(compile(f.read(), arg, 'exec'), namespace)
            except Exception as e:
                raise ConfigError(f"config file {arg} failed: {type(e).__name__}: {e}")
            for key, value in namespace.items():
                if key.startswith('_') or key == '__builtins__' or type(value).__name__ == 'module':
                    continue
                if key not in config or value is not config[key]:
                    config[key] = _check(key, value, defaults, arg)
        else:
            key, sep, text = arg[2:].partition('=')
            if not sep:
                raise ConfigError(f"{arg} has no value; write --{key}=VALUE")
            try:
                value = ast.literal_eval(text)
            except (SyntaxError, ValueError):
                value = text  # a bare word is a string
            if isinstance(defaults.get(key), str) and not isinstance(value, str):
                value = text  # --out_dir=123 means the string '123'
            config[key] = _check(key, value, defaults, f"--{key}")
    return config


def cli(main):
    """Run an entry point's main(argv): a ConfigError becomes one 'error: ...' line on stderr and exit code 2."""
    try:
        sys.exit(main(sys.argv[1:]))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
