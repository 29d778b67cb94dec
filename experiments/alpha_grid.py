"""What alpha buys: an alpha grid x seeds x both head modes, with feature geometry.

For each head mode (`normalize=True`: scaled cosines; `normalize=False`: the
paper's plain logits), trains the example CNN with `WSoftmax(alpha)` for every
alpha of the grid (alpha = 0 is exactly cross-entropy) and every seed, plus
the paper's literal bias (negatives biased by alpha * z_y instead of
alpha * |z_y|), and measures test accuracy, calibration and the paper's two
geometric claims on the test-set FC features: intra-class compactness and
inter-class separation (angles). Differences to alpha = 0 are paired by seed.

    python -m experiments.alpha_grid --out reports/alpha_grid
"""

import matplotlib.pyplot as plt

from experiments import cli, comparison, losses, reporting
from keras_wsoftmax import DEFAULT_SCALE

HEAD_MODES = {"cosine": True, "plain": False}
METRICS = [
    "test_accuracy",
    "compactness_deg",
    "separation_min_deg",
    "separation_mean_deg",
    "dead_feature_fraction",
    "ece",
]
DIFFS = ["test_accuracy", "compactness_deg"]


def loss_key(variant, alpha):
    return f"{'literal' if variant == 'literal' else 'wsoftmax'}-{alpha:g}"


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], epochs=4, out="runs/alpha_grid", seeds=3)
    p.add_argument(
        "--alphas",
        type=float,
        nargs="+",
        default=[0.0, 0.1, 0.2, 0.35, 0.5],
        help="W-Softmax alphas (0 is cross-entropy)",
    )
    p.add_argument(
        "--literal-alpha", type=float, default=0.2, help="alpha of the paper's literal bias"
    )
    p.add_argument("--scale", type=float, default=DEFAULT_SCALE, help="cosine head's scale")
    p.add_argument("--modes", nargs="+", choices=list(HEAD_MODES), default=list(HEAD_MODES))
    p.add_argument("--no-literal", action="store_true", help="skip the paper's literal bias")
    args, determinism, dataset = cli.start(p, argv)
    settings = comparison.Settings(args.epochs, args.batch_size, args.scale, 0.5, args.verbose)

    keys = [loss_key("ours", alpha) for alpha in args.alphas]
    if not args.no_literal:
        keys.append(loss_key("literal", args.literal_alpha))
    plan = [(mode, key, seed) for mode in args.modes for key in keys for seed in cli.seeds(args)]
    runs = []
    for i, (mode, key, seed) in enumerate(plan, 1):
        print(f"\n[{i}/{len(plan)}] {mode} head, {key}, seed {seed}", flush=True)
        result, _ = comparison.measured_run(
            dataset, key, seed, settings, normalize=HEAD_MODES[mode]
        )
        result["mode"] = mode
        runs.append(result)

    baseline = loss_key("ours", 0.0)
    summary = comparison.summarize(runs, METRICS, group="mode", baseline=baseline)
    table = comparison.table(summary, "mode", METRICS, DIFFS)
    findings = comparison.findings(summary, "mode", DIFFS, baseline=baseline)
    print("\n" + table + "\n\n" + "\n".join(findings))
    reporting.write_report(
        args.out,
        "alpha_grid",
        f"What alpha buys on {args.dataset}",
        args,
        {"summary": summary, "runs": runs},
        f"{reporting.budget_markdown(args.epochs, args.batch_size, dataset, cli.seeds(args))}; "
        f"{determinism}\n"
        "- Model: the Keras MNIST example CNN ending in `WSoftmaxHead(C, units=min_units(C))` "
        f"(cosine head: `normalize=True, scale={args.scale:g}`; plain head: `normalize=False`)\n\n"
        "Mean ± standard deviation over seeds; Δ is the paired difference to alpha = 0 "
        "(exactly cross-entropy) of the same head at the same seed, with its 95% t interval. "
        "Geometry is measured on the test-set FC features: compactness is the mean angle "
        "between a feature and its class mean, separation the minimum and mean angle between "
        "class means. 'literal' rows bias the negatives by alpha * z_y, as the paper writes "
        "it; the package biases by alpha * |z_y|. Dead features are test samples whose FC "
        "features are all zero (every ReLU off).\n\n"
        f"{table}\n\n## Findings\n\n" + "\n".join(findings) + "\n\n![alpha grid](alpha_grid.png)\n",
        figures={"alpha_grid": plot(summary, f"{args.dataset}, {args.epochs} epochs")},
    )
    return summary


def plot(summary, title):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for mode, marker in zip(HEAD_MODES, "os", strict=False):
        rows = [r for r in summary if r["mode"] == mode and r["loss"].startswith("wsoftmax-")]
        if not rows:
            continue
        alphas = [losses.parameter(r["loss"]) for r in rows]
        style = {"marker": marker}
        reporting.plot_mean_std(
            axes[0], alphas, rows, "test_accuracy", 100, label=f"{mode} head", **style
        )
        reporting.plot_mean_std(
            axes[1], alphas, rows, "compactness_deg", label=f"{mode} head", **style
        )
        reporting.plot_mean_std(
            axes[2], alphas, rows, "separation_min_deg", label=f"{mode} head, min", **style
        )
        reporting.plot_mean_std(
            axes[2],
            alphas,
            rows,
            "separation_mean_deg",
            linestyle="--",
            label=f"{mode} head, mean",
            **style,
        )
        for r in summary:
            if r["mode"] == mode and r["loss"].startswith("literal-"):
                reporting.plot_mean_std(
                    axes[0],
                    [losses.parameter(r["loss"])],
                    [r],
                    "test_accuracy",
                    100,
                    marker="x",
                    markersize=9,
                    linestyle="none",
                    label=f"{mode} head, literal bias",
                )
    axes[0].set(title="Test accuracy (mean ± std over seeds)", ylabel="test accuracy (%)")
    axes[1].set(
        title="Intra-class compactness (lower is tighter)",
        ylabel="mean angle to class mean (degrees)",
    )
    axes[2].set(title="Inter-class separation", ylabel="angle between class means (degrees)")
    for ax in axes:
        ax.set_xlabel("alpha (0 = cross-entropy)")
    return reporting.finish_figure(fig, axes, title)


if __name__ == "__main__":
    main()
