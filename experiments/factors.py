"""What decides W-Softmax's sign: the regime map's task changed one factor at a time.

The regime map (`experiments.regime_map`) found W-Softmax ahead of
cross-entropy at 100 classes of 20 and 50 samples each, on one task
(`experiments.data.synthetic`: two Gaussian modes per class, noise 1) and
one model (two ReLU layers of 512, dropout 0.5). An independent task of
the same size (one mode per class, noise 1.2, one ReLU layer of 256, no
dropout) gave the opposite sign. This study starts from the map's setting
and changes one factor at a time toward the independent one, then all
four together:

- ``map``: the map's task and model;
- ``modes-1``: one Gaussian per class instead of two;
- ``noise-1.2``: noise 1.2 instead of 1;
- ``dropout-0``: no dropout before the head instead of 0.5;
- ``depth-1x256``: one ReLU layer of 256 instead of two of 512;
- ``independent``: all four.

Each cell (a class count x samples per class x setting) at each seed draws
its own task, the same for every loss, and trains the map's budget
(``--seen-per-class`` 1,500) at the head's default width. The plan goes
seed by seed, so a stopped run holds whole seeds of every setting.

    python -m experiments.factors --out reports/factors --verbose 0
"""

import math
from typing import NamedTuple

from experiments import cli, regime_map, runner


class Setting(NamedTuple):
    """The task's and the model's factors that the study varies."""

    modes: int = 2
    noise: float = 1.0
    dropout: float = 0.5
    depth: int = 2
    hidden: int = 512


MAP = Setting()
SETTINGS = {
    "map": MAP,
    "modes-1": MAP._replace(modes=1),
    "noise-1.2": MAP._replace(noise=1.2),
    "dropout-0": MAP._replace(dropout=0.0),
    "depth-1x256": MAP._replace(depth=1, hidden=256),
    "independent": Setting(modes=1, noise=1.2, dropout=0.0, depth=1, hidden=256),
}
LOSSES = ("cross-entropy", "wsoftmax-0.2", "wsoftmax-0.5", "cosface", "label-smoothing")


def flags(p):
    p.add_argument("--classes", type=int, nargs="+", default=[100], help="class counts")
    p.add_argument(
        "--per-class", type=int, nargs="+", default=[20], help="training samples per class"
    )
    p.add_argument(
        "--settings",
        nargs="+",
        choices=list(SETTINGS),
        default=list(SETTINGS),
        help="the settings to run (see the module's docstring)",
    )
    regime_map.seen_per_class_flag(p)


def cell_name(classes, per_class, setting):
    return f"{regime_map.cell_name(classes, per_class)} {setting}"


def plan(args, _):
    import functools

    from experiments import data
    from keras_wsoftmax import recommended_units

    cells = []
    for seed in cli.seeds(args):
        for classes in args.classes:
            for per_class in args.per_class:
                epochs = regime_map.epochs_for(classes, per_class, args)
                test_per_class = max(100, math.ceil(10_000 / classes))
                for name in args.settings:
                    setting = SETTINGS[name]
                    task = functools.partial(
                        data.synthetic,
                        classes,
                        seed=seed,
                        modes=setting.modes,
                        noise=setting.noise,
                        train_per_class=per_class,
                        test_per_class=test_per_class,
                    )
                    cells.append(
                        runner.Cell(
                            cell_name(classes, per_class, name),
                            seed,
                            task,
                            runner.settings(args, epochs=epochs, dropout=setting.dropout),
                            model={
                                "units": recommended_units(classes),
                                "mlp_shape": (setting.depth, setting.hidden),
                            },
                            record={
                                "classes": classes,
                                "per_class": per_class,
                                "setting": name,
                                "epochs": epochs,
                                **setting._asdict(),
                            },
                        )
                    )
    return cells


def preamble(args, _, determinism):
    seeds = cli.seeds(args)
    rows = "\n".join(
        f"| {name} | {s.modes} | {s.noise:g} | {s.dropout:g} | {s.depth} x {s.hidden} |"
        for name, s in SETTINGS.items()
        if name in args.settings
    )
    return (
        f"- Budget per run: {args.seen_per_class} training samples seen per class (epochs = "
        f"that / samples per class); batch {args.batch_size}; Adam 1e-3; seeds {seeds[0]} to "
        f"{seeds[-1]} (each seed draws its own task and samples, the same for every loss); "
        f"{determinism}\n"
        "- Task: `experiments.data.synthetic(C, seed=seed, modes=M, noise=s, "
        "train_per_class=n)` (32 dimensions, class mode centres from N(0, I)), at least 10,000 "
        "test samples and 100 per class\n"
        "- Model: an MLP of ReLU layers, dropout before the head, then "
        f"`WSoftmaxHead(C, units=recommended_units(C))` (cosine logits, scale {args.scale:g})\n\n"
        "| setting | modes per class | noise | dropout | ReLU layers |\n|---|---|---|---|---|\n"
        f"{rows}\n\n" + regime_map.how_to_read("C x samples per class, setting")
    )


STUDY = runner.Study(
    name="factors",
    description=__doc__.splitlines()[0],
    group="cell",
    plan=plan,
    title=lambda args: "What decides W-Softmax's sign: the map's task, one factor at a time",
    preamble=preamble,
    metrics=regime_map.STUDY.metrics,
    diffs=regime_map.STUDY.diffs,
    plotted=regime_map.STUDY.diffs,
    epochs_help=regime_map.STUDY.epochs_help,
    losses=LOSSES,
    flags=flags,
    plan_flags=("classes", "per_class", "settings"),
    train_accuracy=True,
    data=False,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
