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

from experiments import cli, losses, reporting, runner

HEAD_MODES = {"cosine": True, "plain": False}
METRICS = (
    "test_accuracy",
    "compactness_deg",
    "separation_min_deg",
    "separation_mean_deg",
    "dead_feature_fraction",
    "ece",
)


def loss_key(variant, alpha):
    return f"{'literal' if variant == 'literal' else 'wsoftmax'}-{alpha:g}"


def flags(p):
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
    p.add_argument("--modes", nargs="+", choices=list(HEAD_MODES), default=list(HEAD_MODES))
    p.add_argument("--no-literal", action="store_true", help="skip the paper's literal bias")


def loss_keys(args):
    keys = [loss_key("ours", alpha) for alpha in args.alphas]
    if not args.no_literal:
        keys.append(loss_key("literal", args.literal_alpha))
    return keys


def plan(args, dataset):
    return [
        runner.Cell(
            mode, seed, dataset, runner.settings(args), model={"normalize": HEAD_MODES[mode]}
        )
        for mode in args.modes
        for seed in cli.seeds(args)
    ]


def preamble(args, dataset, determinism):
    return (
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
        "features are all zero (every ReLU off)."
    )


def plot(summary, title):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for mode, marker in zip(HEAD_MODES, "os", strict=False):
        rows = [
            r for r in summary if r["mode"] == mode and losses.parse(r["loss"])[0] == "wsoftmax"
        ]
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
            if r["mode"] == mode and losses.parse(r["loss"])[0] == "literal":
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


STUDY = runner.Study(
    name="alpha_grid",
    description=__doc__.splitlines()[0],
    group="mode",
    plan=plan,
    title=lambda args: f"What alpha buys on {args.dataset}",
    preamble=preamble,
    metrics=METRICS,
    diffs=("test_accuracy", "compactness_deg"),
    epochs=4,
    seeds=3,
    flags=flags,
    plan_flags=("alphas", "literal_alpha", "modes", "no_literal"),
    loss_keys=loss_keys,
    baseline=loss_key("ours", 0.0),
    plot=plot,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
