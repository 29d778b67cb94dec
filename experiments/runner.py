"""One runner for the studies that compare losses: a study declares, the runner runs.

A study declares what is its own, as a `Study`: its flags, its plan (a list
of `Cell`: a group value and a seed, with the data and training settings
that every loss of the study gets there), what a run measures beyond the
common measures, and the prose of its report. The runner does the rest, the
same way for every study: the command line (parsed before Keras, TFDS or a
backend is imported, so ``--help`` is quick and quiet), deterministic
training, the data, one measured run per cell and loss
(`comparison.measured_run`), the runs so far saved after each one, the
runs an earlier report or a stopped run already holds (``--resume``), a
progress line per run, and the report
(`comparison.conclude`, or the study's own `Study.report`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from experiments import cli
from experiments.losses import BASELINE, DEFAULT_LOSSES


class Settings(NamedTuple):
    """How a run trains: the same for every loss of a cell."""

    epochs: int
    batch_size: int
    scale: float
    dropout: float = 0.5
    verbose: int = 0
    fit_target: float | None = None  # stop once an epoch's training accuracy reaches it
    # (steps per epoch) -> a Keras optimizer; None: Adam 1e-3.
    optimizer: Callable[[int], Any] | None = None


def settings(args, **changes):
    """The `Settings` of the common flags (epochs, batch size, scale, verbosity), with `changes`."""
    return Settings(args.epochs, args.batch_size, args.scale, verbose=args.verbose)._replace(
        **changes
    )


class Cell(NamedTuple):
    """One group value at one seed: every loss of the study trains here from the same start."""

    group: Any  # recorded in each run under the study's `group` name
    seed: int
    dataset: Any  # an `experiments.data.Dataset`, or a function making it when a run needs it
    settings: Settings
    model: dict = {}  # keyword arguments of `comparison.measured_run`: units, normalize, mlp_shape
    record: dict = {}  # more fields stored in each of its runs
    context: Any = None  # what the study's `measure` needs there, not stored
    losses: tuple | None = None  # the loss keys trained here; None: all of the study's


def _no_flags(parser):
    pass


@dataclass(frozen=True)
class Study:
    """What a study declares; `main` does the rest.

    `plan(args, dataset)` returns the cells (`dataset` is the loaded
    ``--dataset``, or None where `data` is False: the plan makes its own).
    `preamble(args, dataset, determinism)` is the report's text before the
    table (budget, model, how to read it); `title(args)` its title. With
    `loss_keys(args)` the study's own flags choose the losses (no
    ``--losses``). `measure(result, model, cell)` adds a run's own measures.
    `report(args, runs, dataset, determinism)` replaces the common report
    and returns the summary.
    """

    name: str  # the report's stem, and the default --out is runs/NAME
    description: str
    group: str
    plan: Callable
    title: Callable
    preamble: Callable
    metrics: tuple = ()
    diffs: tuple = ()
    plotted: tuple = ()
    epochs: int | None = None
    epochs_help: str = "epochs per run"
    seeds: int = 5
    losses: tuple = tuple(DEFAULT_LOSSES)
    flags: Callable = _no_flags
    plan_flags: tuple = ()  # flags that choose runs, not what a run computes (for --resume)
    loss_keys: Callable | None = None
    measure: Callable | None = None
    train_accuracy: bool = False
    data: bool = True
    baseline: str = BASELINE
    plot: Callable | None = None  # (summary, title) -> figure; default `comparison.plot`
    report: Callable | None = None


def parser(study):
    """The study's command line: the common flags, the loss flags, then its own."""
    p = cli.parser(
        study.description,
        epochs=study.epochs,
        out=f"runs/{study.name}",
        seeds=study.seeds,
        epochs_help=study.epochs_help,
        data=study.data,
    )
    if study.loss_keys is None:
        p.add_argument(
            "--losses",
            nargs="+",
            default=list(study.losses),
            help="cross-entropy, wsoftmax-ALPHA, cosface[-M], arcface[-M], label-smoothing[-EPS]",
        )
    p.add_argument(
        "--scale", type=float, help="cosine head's scale (default: keras_wsoftmax.DEFAULT_SCALE)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs of the report already in --out (same settings), run only the rest",
    )
    study.flags(p)
    return p


def main(study, argv=None):
    """Parses, plans, trains every loss of every cell (or reuses it), and reports.

    Returns the summary rows (`comparison.summarize`, or the study's report's).
    """
    args, determinism, dataset = cli.start(parser(study), argv, data=study.data)
    from experiments import comparison  # after parsing: imports Keras and the backend
    from keras_wsoftmax import DEFAULT_SCALE

    if args.scale is None:
        args.scale = DEFAULT_SCALE
    keys = study.loss_keys(args) if study.loss_keys else args.losses
    cells = study.plan(args, dataset)
    earlier = comparison.earlier_runs(args, study.name, study.group, study.plan_flags)
    unreached = dict(earlier)  # saved with every partial: a second stop loses none of them
    runs = []
    planned = [(cell, key) for cell in cells for key in cell.losses or keys]
    made_for, trained_on = None, None  # a cell's data, made once for all its losses
    for i, (cell, key) in enumerate(planned, 1):
        print(
            f"[{i}/{len(planned)}] {study.group} {cell.group}, seed {cell.seed}, {key}", flush=True
        )
        if (cell.group, cell.seed, key) in earlier:
            runs.append(earlier[cell.group, cell.seed, key])
            unreached.pop((cell.group, cell.seed, key), None)
            continue
        if made_for is not cell:
            made_for = cell
            trained_on = cell.dataset() if callable(cell.dataset) else cell.dataset
        result, model = comparison.measured_run(
            trained_on,
            key,
            cell.seed,
            cell.settings,
            train_accuracy=study.train_accuracy,
            **cell.model,
        )
        if study.measure:
            study.measure(result, model, cell)
        result.update({study.group: cell.group, **cell.record})
        runs.append(result)
        comparison.save_partial(args, study.name, runs + list(unreached.values()))
    if study.report:
        summary = study.report(args, runs, dataset, determinism)
    else:
        preamble = study.preamble(args, dataset, determinism)
        summary = comparison.conclude(args, study, runs, preamble)
    comparison.partial_path(args, study.name).unlink(missing_ok=True)
    return summary
