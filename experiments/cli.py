"""The command line every study shares; each study adds its own flags."""

import argparse
import sys
from pathlib import Path


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default after its help, unless it has none or the help says it."""

    def _get_help_string(self, action):
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parser(description, epochs, out, seeds=None, epochs_help="epochs per run", data=True):
    """An `ArgumentParser` with the common flags, showing every default in ``--help``.

    `epochs` and `out` are the study's defaults; with `seeds` the study runs
    several seeds, ``--seed`` to ``--seed + --seeds - 1``. `epochs_help`
    says what ``--epochs`` means where it is not a plain count. With
    `data` False the study makes its own data: no dataset flags.
    """
    p = argument_parser(description)
    if data:
        p.add_argument(
            "--dataset", default="fashion_mnist", help="TFDS image-classification dataset"
        )
        p.add_argument(
            "--data-dir",
            help="folder holding the four Fashion-MNIST IDX files (default: the Debian package's)",
        )
    p.add_argument("--epochs", type=int, default=epochs, help=epochs_help)
    p.add_argument("--batch-size", type=int, default=128, help="training batch size")
    if seeds is None:
        p.add_argument(
            "--seed", type=int, default=0, help="seed of the initial weights and data order"
        )
    else:
        p.add_argument("--seed", type=int, default=0, help="the first seed")
        p.add_argument("--seeds", type=int, default=seeds, help="number of seeds, from --seed on")
    if data:
        p.add_argument("--limit", type=int, help="use only the first N training samples")
        p.add_argument("--test-limit", type=int, help="use only the first N test samples")
    p.add_argument("--out", type=Path, default=Path(out), help="folder for the report files")
    p.add_argument("--verbose", type=int, default=1, help="Keras verbosity: 0, 1 or 2")
    return p


def argument_parser(description):
    """A bare `ArgumentParser` for a command of this package: its usage line and defaults shown."""
    return argparse.ArgumentParser(
        prog=_prog(), description=description, formatter_class=DefaultsFormatter
    )


def _prog():
    """``python -m experiments.NAME`` when run so: argparse alone would say ``NAME.py``."""
    script = Path(sys.argv[0])
    if script.parent == Path(__file__).parent:
        return f"python -m experiments.{script.stem}"
    return None


def seeds(args, count=None):
    """The seeds a study runs: ``--seed`` on, `count` or ``--seeds`` of them (one without --seeds)."""
    return list(range(args.seed, args.seed + (count or getattr(args, "seeds", 1))))


def start(p, argv=None, data=True):
    """What every study does first: parse its flags, make training deterministic, load the data.

    Returns ``(args, determinism, dataset)``: `determinism` says what was done,
    for the report (`training.make_deterministic`); `dataset` is None
    without `data` (a study that makes its own).
    """
    args = p.parse_args(argv)
    # After parsing: --help needs neither TFDS nor a backend.
    from experiments import data as datasets
    from experiments.training import make_deterministic

    determinism = make_deterministic()
    if not data:
        return args, determinism, None
    dataset = datasets.load_or_exit(args.dataset, args.data_dir, args.limit, args.test_limit)
    return args, determinism, dataset
