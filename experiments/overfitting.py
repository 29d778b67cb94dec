"""Overfitting regime: small training subsets trained until they fit, every loss side by side.

The paper says W-Softmax "avoids overfitting". For each subset size and
seed, the seed draws its own training subset (the same for every loss), and
the examples' CNN without dropout is trained on it until it fits: each run
stops at the end of the first epoch whose training accuracy reaches
`--fit-target` (99%), or at the size's epoch cap (the training accuracy
measured afterwards is reported, so whether it fit is visible). Then it is
measured on the full test set: accuracy, the train-test gap, compactness and
separation of the FC features, ECE and NLL. Differences to cross-entropy
are paired by seed, with 95% t intervals.

The head's FC layer is `--units` wide (128): at `min_units` (10 units for
10 classes) the CNN does not fit 5000 samples steadily (its training
accuracy swings between 92% and 99% from epoch to epoch), and a study of
fitted models needs models that fit.

    python -m experiments.overfitting --out reports/overfitting
"""

import functools

from experiments import cli, runner

DEFAULT_SIZES = [1000, 5000, 10000]
DEFAULT_EPOCHS = {1000: 100, 5000: 50, 10000: 40}


def epochs_for(size, args):
    """``--epochs`` if given, else the size's epoch cap (at least 400k samples seen)."""
    return args.epochs or DEFAULT_EPOCHS.get(size) or max(1, round(400_000 / size))


def flags(p):
    p.add_argument(
        "--sizes", type=int, nargs="+", default=DEFAULT_SIZES, help="training-subset sizes"
    )
    p.add_argument("--dropout", type=float, default=0.0, help="dropout before the head (0: none)")
    p.add_argument("--units", type=int, default=128, help="the head's FC width")
    p.add_argument(
        "--fit-target",
        type=float,
        default=0.99,
        help="stop a run once an epoch's training accuracy reaches it (0: train every epoch)",
    )


def plan(args, full):
    from experiments import data

    cells = []
    for size in args.sizes:
        settings = runner.settings(
            args,
            epochs=epochs_for(size, args),
            dropout=args.dropout,
            fit_target=args.fit_target or None,
        )
        for seed in cli.seeds(args):
            cells.append(
                runner.Cell(
                    size,
                    seed,
                    functools.partial(data.training_subset, full, size, seed),
                    settings,
                    model={"units": args.units},
                    record={"epochs": settings.epochs},
                )
            )
    return cells


def preamble(args, full, determinism):
    caps = ", ".join(f"{s} samples: {epochs_for(s, args)}" for s in args.sizes)
    budget = (
        f"until an epoch's training accuracy reaches {args.fit_target:.0%}, at most ({caps}) epochs"
        if args.fit_target
        else f"every epoch ({caps})"
    )
    seeds = cli.seeds(args)
    return (
        f"- Budget: {budget}; batch {args.batch_size}; Adam 1e-3; seeds {seeds[0]} to "
        f"{seeds[-1]} (each seed draws its own subset, the same for every loss); "
        f"{len(full.x_test)} test samples; {determinism}\n"
        f"- Model: the examples' CNN, dropout {args.dropout:g}, ending in "
        f"`WSoftmaxHead(C, units={args.units})` (cosine logits, scale {args.scale:g})\n\n"
        "Mean ± std over seeds; Δ is the paired difference to cross-entropy at the same "
        "size and seed with its 95% t interval, in points (accuracy, gap, ECE) or degrees "
        "(compactness). Gap = training accuracy - test accuracy. ECE with 15 bins."
    )


STUDY = runner.Study(
    name="overfitting",
    description=__doc__.splitlines()[0],
    group="size",
    plan=plan,
    title=lambda args: (
        f"Overfitting regime on {args.dataset}: small training subsets trained to fit"
    ),
    preamble=preamble,
    metrics=(
        "test_accuracy",
        "train_accuracy",
        "gap",
        "compactness_deg",
        "separation_min_deg",
        "ece",
        "nll",
        "epochs_trained",
    ),
    diffs=("test_accuracy", "gap", "compactness_deg", "ece"),
    plotted=("test_accuracy", "gap", "compactness_deg", "ece"),
    epochs_help="the most epochs per run; --fit-target stops a run sooner (default: "
    "100, 50 and 40 at 1k, 5k and 10k samples, else enough to see 400,000 samples)",
    flags=flags,
    plan_flags=("sizes",),
    train_accuracy=True,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
