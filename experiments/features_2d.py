"""The classic picture: 2-D FC features of the test set, one panel per alpha.

Trains the example CNN ending in `WSoftmaxHead(C, units=2, activation=None)`
(a 2-unit linear FC layer) for each alpha and scatters the test-set features,
colored by class.

    python -m experiments.features_2d --out reports
"""

from experiments import cli, reporting


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], epochs=3, out="runs/features_2d")
    p.add_argument(
        "--alphas",
        type=float,
        nargs="+",
        default=[0.0, 0.1, 0.3, 0.5],
        help="W-Softmax alphas, one panel each",
    )
    p.add_argument(
        "--normalize", action="store_true", help="cosine logits instead of the paper's plain ones"
    )
    p.add_argument("--points", type=int, default=3000, help="test points drawn per panel")
    args, determinism, dataset = cli.start(p, argv)
    # After parsing, so that --help loads no backend.
    from experiments.models import cnn
    from experiments.training import outputs, train
    from keras_wsoftmax import WSoftmax

    panels = []
    for alpha in args.alphas:
        print(f"\n== alpha={alpha:g} ==")
        model = cnn(
            dataset.input_shape,
            dataset.num_classes,
            args.seed,
            units=2,
            activation=None,
            normalize=args.normalize,
        )
        result, _ = train(
            model, WSoftmax(alpha), dataset, args.epochs, args.batch_size, args.verbose
        )
        _, features, _ = outputs(model, dataset.x_test[: args.points])
        panels.append((alpha, result["test_accuracy"], features))

    mode = "cosine" if args.normalize else "plain"
    rows = [
        ["cross-entropy" if alpha == 0 else f"W-Softmax {alpha:g}", f"{100 * accuracy:.2f}"]
        for alpha, accuracy, _ in panels
    ]
    reporting.write_report(
        args.out,
        "features_2d",
        f"2-D FC features on {args.dataset}",
        args,
        {"test_accuracy": {f"{alpha:g}": accuracy for alpha, accuracy, _ in panels}},
        f"{reporting.budget_markdown(args.epochs, args.batch_size, dataset, [args.seed])}; "
        f"{determinism}\n"
        "- Model: the Keras MNIST example CNN ending in "
        f"`WSoftmaxHead(C, units=2, activation=None, normalize={args.normalize})` ({mode} logits)\n\n"
        "A 2-unit FC layer is below `min_units` (C - 1 for linear features), so these runs "
        "show the geometry, not competitive accuracy. One seed per alpha.\n\n"
        f"{reporting.markdown_table(['loss', 'test accuracy (%)'], rows)}\n\n"
        f"![2-D test features, first {args.points} test samples](features_2d.png)\n",
        figures={"features_2d": plot(panels, dataset, args)},
    )
    return panels


def plot(panels, dataset, args):
    import keras
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False)
    cmap = plt.get_cmap("tab10" if dataset.num_classes <= 10 else "tab20")
    labels = dataset.y_test[: args.points]
    for ax, (alpha, accuracy, features) in zip(axes[0], panels, strict=True):
        for c in range(dataset.num_classes):
            chosen = labels == c
            ax.scatter(*features[chosen].T, s=3, alpha=0.5, color=cmap(c % cmap.N), label=str(c))
        name = "cross-entropy (alpha=0)" if alpha == 0 else f"W-Softmax alpha={alpha:g}"
        ax.set(
            title=f"{name}\ntest accuracy {100 * accuracy:.1f}%",
            xlabel="feature 1 (a.u.)",
            ylabel="feature 2 (a.u.)",
        )
    reporting.finish_figure(
        fig,
        axes[0],
        f"{args.dataset}: 2-D test features ({'cosine' if args.normalize else 'plain'} logits, "
        f"{args.epochs} epochs, {keras.backend.backend()})",
        legend=False,
    )
    axes[0][-1].legend(
        title="class", markerscale=4, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5)
    )
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
