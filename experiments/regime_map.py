"""Where W-Softmax pays: class count against samples per class, on the synthetic task.

For each class count C and number of training samples per class n, and
each seed, the seed draws its own task (`experiments.data.synthetic(C)`:
class centres and samples; the same for every loss) with n training
samples per class and at least 10,000 test samples (at least 100 per
class). An MLP ending in `WSoftmaxHead(C)` at its default width
(`recommended_units(C)`) is trained with cross-entropy and W-Softmax; the
map is the paired difference of test accuracy to cross-entropy, per cell,
with its 95% t interval (marked where it excludes 0).

Every run sees the same number of samples per class (``--seen-per-class``,
1500: 15 epochs at 100 per class, the width study's budget), so a cell with
fewer samples trains more epochs on them. The cost grows with C (the head is 16 C wide, at most 4096): at
1000 classes one run is about 15 minutes on a 2-core CPU, so the default
map stops at 300 classes. ``--seeds-at C=N`` gives the cells of C classes
N seeds instead of ``--seeds`` (10 seeds where intervals are narrow, 5
where runs are costly), so that one command plans the whole map.

    python -m experiments.regime_map --out reports/regime_map --verbose 0
"""

import math

from experiments import cli, runner

CLASSES = (10, 30, 100, 300)
PER_CLASS = (20, 50, 100, 300)


def flags(p):
    p.add_argument("--classes", type=int, nargs="+", default=list(CLASSES), help="class counts")
    p.add_argument(
        "--per-class",
        type=int,
        nargs="+",
        default=list(PER_CLASS),
        help="training samples per class",
    )
    p.add_argument(
        "--seeds-at",
        type=seeds_at,
        nargs="+",
        default=[],
        metavar="C=N",
        help="N seeds (from --seed on) at C classes instead of --seeds, such as 300=5",
    )
    p.add_argument(
        "--scale-for-classes",
        action="store_true",
        help="the cosine head's scale from the class count (`scale_for_classes`), at least --scale",
    )
    seen_per_class_flag(p)


def seen_per_class_flag(p):
    """``--seen-per-class``: the budget of a run, in training samples seen per class."""
    p.add_argument(
        "--seen-per-class",
        type=int,
        default=1500,
        help="training samples per class each run sees (epochs = this / samples per class)",
    )


def how_to_read(cell):
    """The report's last preamble lines: what a row is (a `cell` and a loss) and what Δ means."""
    return (
        f"A row per cell ({cell}) and loss. Mean ± std over seeds; Δ is the paired difference to "
        "cross-entropy in the same cell at the same seed, with its 95% t interval, in points. "
        "Gap = training accuracy - test accuracy."
    )


def scale_for_classes(classes, floor, alpha=0.5, probability=0.99):
    """The smallest cosine scale at which W-Softmax(`alpha`) lets the target reach `probability`.

    With the class weights as far apart as they can be (pairwise cosine
    ``-1 / (C - 1)``) and a feature on its class's weight, W-Softmax's
    target logit is ``s (1 - alpha)`` and every other ``-s / (C - 1)``, so
    the target's probability in training is at most ``p`` unless
    ``s >= ln((C - 1) p / (1 - p)) / (1 - alpha + 1 / (C - 1))`` (the
    NormFace bound, with the margin). At the fixed scale 16, alpha 0.5 caps
    ``p`` near 0.97 at 100 classes, 0.91 at 300 and 0.75 at 1000; this rule
    keeps ``p = 0.99`` reachable at every class count, and never goes below
    `floor` (the head's default, 16, where that already suffices).

    With ``floor = 16``: 16 at 10 and 30 classes, 18.0 at 100, 20.5 at 300,
    23.0 at 1000.
    """
    bound = math.log((classes - 1) * probability / (1 - probability))
    return max(floor, bound / (1 - alpha + 1 / (classes - 1)))


def seeds_at(text):
    """``C=N`` -> ``(C, N)``, both positive integers (the parser's type for ``--seeds-at``)."""
    import argparse

    classes, _, count = text.partition("=")
    if not (classes.isdigit() and count.isdigit() and int(classes) > 0 and int(count) > 0):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected CLASSES=SEEDS, two positive integers, such as 300=5"
        )
    return int(classes), int(count)


def seeds_for(classes, args):
    """The seeds of every cell with `classes` classes: ``--seeds``, or what ``--seeds-at`` says."""
    return cli.seeds(args, dict(args.seeds_at).get(classes))


def cell_name(classes, per_class):
    return f"{classes}x{per_class}"


def epochs_for(classes, per_class, args):
    """``--epochs`` if given, else enough to see ``--seen-per-class`` samples of each class."""
    return args.epochs or math.ceil(args.seen_per_class / per_class)


def plan(args, _):
    import functools

    from experiments import data
    from keras_wsoftmax import recommended_units

    cells = []
    for classes in args.classes:
        for per_class in args.per_class:
            scale = scale_for_classes(classes, args.scale) if args.scale_for_classes else args.scale
            settings = runner.settings(
                args, epochs=epochs_for(classes, per_class, args), scale=scale
            )
            test_per_class = max(100, math.ceil(10_000 / classes))
            for seed in seeds_for(classes, args):
                task = functools.partial(
                    data.synthetic,
                    classes,
                    seed=seed,
                    train_per_class=per_class,
                    test_per_class=test_per_class,
                )
                record = {
                    "classes": classes,
                    "per_class": per_class,
                    "epochs": settings.epochs,
                    "scale": scale,
                }
                cells.append(
                    runner.Cell(
                        cell_name(classes, per_class),
                        seed,
                        task,
                        settings,
                        model={"units": recommended_units(classes)},
                        record=record,
                    )
                )
    return cells


def preamble(args, _, determinism):
    ranges = [(classes, seeds_for(classes, args)) for classes in args.classes]
    seeds = "; ".join(f"seeds {s[0]} to {s[-1]} at {c} classes" for c, s in ranges)
    budget = (
        f"{args.epochs} epochs"
        if args.epochs
        else f"{args.seen_per_class} training samples seen per class (the epochs are in the table)"
    )
    return (
        f"- Budget per run: {budget}; batch "
        f"{args.batch_size}; Adam 1e-3; {seeds} (each seed draws its "
        f"own task and samples, the same for every loss); {determinism}\n"
        "- Task: `experiments.data.synthetic(C, seed=seed, train_per_class=n)` (32 dimensions, "
        "two Gaussian modes per class, noise 1), at least 10,000 test samples and 100 per class\n"
        "- Model: an MLP (two ReLU layers of 512, dropout 0.5) ending in "
        f"`WSoftmaxHead(C, units=recommended_units(C))` (cosine logits, {scale_text(args)})\n\n"
        + how_to_read("C x samples per class")
    )


def scale_text(args):
    """The head's scale, as the report states it."""
    if not args.scale_for_classes:
        return f"scale {args.scale:g}"
    scales = ", ".join(f"{scale_for_classes(c, args.scale):.1f} at {c}" for c in args.classes)
    return f"scale from the class count, `scale_for_classes(C, {args.scale:g})`: {scales} classes"


def plot(summary, title):
    """Heatmaps of the paired test-accuracy difference, one per loss; * where its interval excludes 0."""
    import matplotlib.pyplot as plt
    import numpy as np

    from experiments import losses, reporting
    from experiments.statistics import verdict

    keys = [k for k in dict.fromkeys(r["loss"] for r in summary) if k != losses.BASELINE]
    cells = {tuple(int(v) for v in r["cell"].split("x")) for r in summary}
    classes = sorted({c for c, _ in cells})
    per_class = sorted({n for _, n in cells})
    fig, axes = plt.subplots(
        1, max(len(keys), 1), figsize=(5.2 * max(len(keys), 1), 4.8), squeeze=False
    )
    axes = axes[0]
    if not keys:
        axes[0].text(0.5, 0.5, "no loss to compare with cross-entropy", ha="center")
        axes, keys = [], []
    limit = max(
        [abs(100 * r["test_accuracy_diff"]["mean"]) for r in summary if "test_accuracy_diff" in r]
        + [0.1]
    )
    for ax, key in zip(axes, keys, strict=True):
        grid = np.full((len(classes), len(per_class)), np.nan)
        for row in summary:
            if row["loss"] != key or "test_accuracy_diff" not in row:
                continue
            c, n = (int(v) for v in row["cell"].split("x"))
            diff = row["test_accuracy_diff"]
            i, j = classes.index(c), per_class.index(n)
            grid[i, j] = 100 * diff["mean"]
            mark = "*" if verdict(diff) in ("higher", "lower") else ""
            color = "white" if abs(grid[i, j]) > limit / 2 else "black"
            ax.text(j, i, f"{grid[i, j]:+.2f}{mark}", ha="center", va="center", color=color)
        image = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, origin="lower")
        ax.set_xticks(range(len(per_class)), per_class)
        ax.set_yticks(range(len(classes)), classes)
        ax.set(
            xlabel="training samples per class",
            ylabel="classes",
            title=f"{losses.label(key)} - cross-entropy (points)",
        )
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig = reporting.finish_figure(
        fig, axes, f"{title}\n* : the paired 95% interval excludes 0", legend=False
    )
    for ax in axes:
        ax.grid(False)
    return fig


STUDY = runner.Study(
    name="regime_map",
    description=__doc__.splitlines()[0],
    group="cell",
    plan=plan,
    title=lambda args: "Test accuracy of W-Softmax against cross-entropy, by classes and samples",
    preamble=preamble,
    metrics=("test_accuracy", "train_accuracy", "gap", "ece", "compactness_deg", "epochs_trained"),
    diffs=("test_accuracy", "gap", "ece"),
    epochs_help="epochs per run (default: --seen-per-class / samples per class)",
    losses=("cross-entropy", "wsoftmax-0.2", "wsoftmax-0.5"),
    flags=flags,
    plan_flags=("classes", "per_class", "seeds_at"),
    train_accuracy=True,
    data=False,
    plot=plot,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
