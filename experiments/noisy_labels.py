"""Noisy labels: a share of the training labels replaced at random, every loss side by side.

For each noise rate and seed, the seed replaces that share of the training
labels by classes drawn uniformly (the same labels for every loss); the
examples' CNN is trained on the full noisy training set and measured on
the clean test labels: accuracy, ECE, NLL, compactness. Differences to
cross-entropy are paired by seed, with 95% t intervals. The default budget,
4 epochs, fits 5 seeds x 2 rates x 8 losses in about 80 minutes on a 2-core
CPU with TensorFlow.

    python -m experiments.noisy_labels --out reports/noisy_labels
"""

from experiments import cli, reporting, runner


def flags(p):
    p.add_argument("--rates", type=float, nargs="+", default=[0.2, 0.4], help="noise rates")


def plan(args, clean):
    from experiments import data

    cells = []
    for rate in args.rates:
        for seed in cli.seeds(args):
            noisy, replaced = data.with_noisy_labels(clean, rate, seed)
            record = {"replaced_fraction": float(replaced.mean())}
            cells.append(runner.Cell(rate, seed, noisy, runner.settings(args), record=record))
    return cells


def preamble(args, clean, determinism):
    return (
        f"{reporting.budget_markdown(args.epochs, args.batch_size, clean, cli.seeds(args))}; "
        f"{determinism}\n"
        f"- Noise: rates {args.rates}; each seed replaces that share of the training labels "
        "by uniformly drawn classes (a replaced label keeps its class with probability 1/C); "
        "test labels clean\n"
        "- Model: the examples' CNN (dropout 0.5) ending in `WSoftmaxHead(C, units=min_units(C))` "
        f"(cosine logits, scale {args.scale:g})\n\n"
        "Mean ± std over seeds; Δ is the paired difference to cross-entropy at the same rate "
        "and seed with its 95% t interval, in points (NLL in nats). Test accuracy is against "
        "the clean test labels; training accuracy against the noisy labels (memorizing the "
        "noise raises it)."
    )


STUDY = runner.Study(
    name="noisy_labels",
    description=__doc__.splitlines()[0],
    group="rate",
    plan=plan,
    title=lambda args: f"Noisy labels on {args.dataset}",
    preamble=preamble,
    metrics=(
        "test_accuracy",
        "train_accuracy",
        "ece",
        "nll",
        "compactness_deg",
        "separation_min_deg",
    ),
    diffs=("test_accuracy", "ece", "nll"),
    plotted=("test_accuracy", "train_accuracy", "ece", "nll"),
    epochs=4,
    flags=flags,
    plan_flags=("rates",),
    train_accuracy=True,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
