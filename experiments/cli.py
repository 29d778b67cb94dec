"""The command line every study shares; each study adds its own flags."""

import argparse
from pathlib import Path

from experiments import data
from experiments.training import make_deterministic


def parser(description, epochs, out, seeds=None):
    """An `ArgumentParser` with the common flags.

    `epochs` and `out` are the study's defaults; with `seeds` the study runs
    several seeds, ``--seed`` to ``--seed + --seeds - 1``.
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dataset", default="fashion_mnist", help="TFDS image-classification dataset")
    p.add_argument("--data-dir", help="folder holding the four Fashion-MNIST IDX files")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0, help="the first seed")
    if seeds is not None:
        p.add_argument("--seeds", type=int, default=seeds, help="number of seeds, from --seed on")
    p.add_argument("--limit", type=int, help="use only the first N training samples")
    p.add_argument("--test-limit", type=int, help="use only the first N test samples")
    p.add_argument("--out", type=Path, default=Path(out), help="folder for the report files")
    p.add_argument("--verbose", type=int, default=1, help="Keras verbosity: 0, 1 or 2")
    return p


def seeds(args):
    """The seeds a study runs: ``--seed`` on, ``--seeds`` of them (one without --seeds)."""
    return list(range(args.seed, args.seed + getattr(args, "seeds", 1)))


def start(p, argv=None):
    """What every study does first: parse its flags, make training deterministic, load the data.

    Returns ``(args, determinism, dataset)``: `determinism` says what was done,
    for the report (`training.make_deterministic`).
    """
    args = p.parse_args(argv)
    determinism = make_deterministic()
    dataset = data.load_or_exit(args.dataset, args.data_dir, args.limit, args.test_limit)
    return args, determinism, dataset
