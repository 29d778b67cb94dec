"""The classic picture: 2-D FC features of the test set, one panel per alpha.

Trains the example CNN ending in `WSoftmaxHead(C, units=2, activation=None)`
(a 2-unit linear FC layer) for each alpha and scatters the test-set features,
colored by class.

    python examples/features_2d.py --out reports
"""

import common
import data
import keras
import matplotlib.pyplot as plt

from keras_wsoftmax import WSoftmax


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0], epochs=3, out="runs/features_2d")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1, 0.3, 0.5])
    p.add_argument(
        "--normalize", action="store_true", help="cosine logits instead of the paper's plain ones"
    )
    p.add_argument("--points", type=int, default=3000, help="test points drawn per panel")
    args = p.parse_args(argv)
    dataset = data.load_or_exit(args.dataset, args.data_dir, args.limit, args.test_limit)
    x_train, _, x_test, y_test, num_classes = dataset

    panels = []
    for alpha in args.alphas:
        print(f"\n== alpha={alpha:g} ==")
        model = common.cnn(
            x_train.shape[1:],
            num_classes,
            args.seed,
            units=2,
            activation=None,
            normalize=args.normalize,
        )
        result = common.train(model, WSoftmax(alpha), dataset, args)
        features = common.fc_features(model, x_test[: args.points])
        panels.append((alpha, result["test_accuracy"], features))

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False)
    cmap = plt.get_cmap("tab10" if num_classes <= 10 else "tab20")
    for ax, (alpha, accuracy, features) in zip(axes[0], panels, strict=True):
        for c in range(num_classes):
            chosen = y_test[: args.points] == c
            ax.scatter(*features[chosen].T, s=3, alpha=0.5, color=cmap(c % cmap.N), label=str(c))
        name = "cross-entropy (alpha=0)" if alpha == 0 else f"W-Softmax alpha={alpha:g}"
        ax.set(
            title=f"{name}\ntest accuracy {100 * accuracy:.1f}%",
            xlabel="feature 1 (a.u.)",
            ylabel="feature 2 (a.u.)",
        )
        ax.grid(alpha=0.3)
    axes[0][-1].legend(
        title="class", markerscale=4, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5)
    )
    mode = "cosine" if args.normalize else "plain"
    fig.suptitle(
        f"{args.dataset}: 2-D test features ({mode} logits, {args.epochs} epochs, "
        f"{keras.backend.backend()})"
    )
    fig.tight_layout()
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "features_2d.png", dpi=110)
    plt.close(fig)
    info = common.provenance()
    accuracy = {f"{alpha:g}": value for alpha, value, _ in panels}
    common.write_json(
        args.out / "features_2d.json",
        {"provenance": info, "args": vars(args), "test_accuracy": accuracy},
    )
    write_report(args.out, info, args, accuracy)
    print(f"\nwrote {args.out}/features_2d.md, features_2d.png and features_2d.json")
    return panels


def write_report(out, info, args, accuracy):
    mode = "cosine" if args.normalize else "plain"
    rows = [
        ["cross-entropy" if float(alpha) == 0 else f"W-Softmax {alpha}", f"{100 * value:.2f}"]
        for alpha, value in accuracy.items()
    ]
    (out / "features_2d.md").write_text(
        f"# 2-D FC features on {args.dataset}\n\n"
        f"{common.provenance_markdown(info)}\n"
        f"- Budget per run: {args.epochs} epochs, batch {args.batch_size}, seed {args.seed}, "
        f"training samples: {args.limit or 'all'}, test samples: {args.test_limit or 'all'}; "
        "Adam 1e-3\n"
        "- Model: the Keras MNIST example CNN ending in "
        f"`WSoftmaxHead(C, units=2, activation=None, normalize={args.normalize})` ({mode} logits)\n\n"
        "A 2-unit FC layer is below `min_units` (C - 1 for linear features), so these runs "
        "show the geometry, not competitive accuracy. One seed per alpha.\n\n"
        f"{common.markdown_table(['loss', 'test accuracy (%)'], rows)}\n\n"
        f"![2-D test features, first {args.points} test samples](features_2d.png)\n"
    )


if __name__ == "__main__":
    main()
