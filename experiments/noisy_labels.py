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

from experiments import cli, comparison, data, reporting

METRICS = ["test_accuracy", "train_accuracy", "ece", "nll", "compactness_deg", "separation_min_deg"]
DIFFS = ["test_accuracy", "ece", "nll"]
PLOTTED = ["test_accuracy", "train_accuracy", "ece", "nll"]


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], epochs=4, out="runs/noisy_labels", seeds=5)
    p.add_argument("--rates", type=float, nargs="+", default=[0.2, 0.4], help="noise rates")
    comparison.add_loss_flags(p)
    args, determinism, clean = cli.start(p, argv)
    settings = comparison.Settings(args.epochs, args.batch_size, args.scale, 0.5, args.verbose)

    earlier = comparison.earlier_runs(args, "noisy_labels", "rate", ["rates"])
    runs = []
    plan = [(rate, seed) for rate in args.rates for seed in cli.seeds(args)]
    for i, (rate, seed) in enumerate(plan, 1):
        noisy, replaced = data.with_noisy_labels(clean, rate, seed)
        for loss_key in args.losses:
            print(f"[{i}/{len(plan)}] noise {rate:g}, seed {seed}, {loss_key}", flush=True)
            if (rate, seed, loss_key) in earlier:
                runs.append(earlier[rate, seed, loss_key])
                continue
            result, _ = comparison.measured_run(
                noisy, loss_key, seed, settings, train_accuracy=True
            )
            result.update({"rate": rate, "replaced_fraction": float(replaced.mean())})
            runs.append(result)

    return comparison.conclude(
        args,
        "noisy_labels",
        f"Noisy labels on {args.dataset}",
        runs,
        "rate",
        METRICS,
        DIFFS,
        PLOTTED,
        f"{reporting.budget_markdown(args.epochs, args.batch_size, clean, cli.seeds(args))}; "
        f"{determinism}\n"
        f"- Noise: rates {args.rates}; each seed replaces that share of the training labels "
        "by uniformly drawn classes (a replaced label keeps its class with probability 1/C); "
        "test labels clean\n"
        "- Model: the examples' CNN (dropout 0.5) ending in `WSoftmaxHead(C, units=min_units(C))` "
        "(cosine logits, "
        f"scale {args.scale:g})\n\n"
        "Mean ± std over seeds; Δ is the paired difference to cross-entropy at the same rate "
        "and seed with its 95% t interval, in points (NLL in nats). Test accuracy is against "
        "the clean test labels; training accuracy against the noisy labels (memorizing the "
        "noise raises it).",
    )


if __name__ == "__main__":
    main()
