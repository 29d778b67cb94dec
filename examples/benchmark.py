"""What W-Softmax buys: an alpha grid x seeds x both head modes, with feature geometry.

For each head mode (`normalize=True`: scaled cosines; `normalize=False`: the
paper's plain logits), trains the example CNN with `WSoftmax(alpha)` for every
alpha of the grid (alpha = 0 is cross-entropy) and every seed, plus the paper's
literal bias (negatives biased by alpha * z_y instead of alpha * |z_y|), and
measures test accuracy and the paper's two geometric claims on the test-set FC
features: intra-class compactness and inter-class separation (angles).

    python examples/benchmark.py --out reports
"""

import common
import data
import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import ops

from keras_wsoftmax import WSoftmax
from keras_wsoftmax.head import DEFAULT_SCALE

HEAD_MODES = {"cosine": True, "plain": False}
GEOMETRY = ["compactness_deg", "separation_min_deg", "separation_mean_deg"]


def literal_wsoftmax(y_true, y_pred, alpha):
    """The paper taken literally: softplus(logsumexp_{j!=y} z_j + alpha z_y - z_y).

    Deliberately not in the package: a negative target logit lowers every
    negative logit, so misclassified samples can reach zero loss.
    """
    is_target = ops.one_hot(ops.cast(y_true, "int32"), ops.shape(y_pred)[-1]) > 0
    z_y = ops.sum(ops.where(is_target, y_pred, 0.0), axis=-1)
    negatives = ops.logsumexp(ops.where(is_target, -np.inf, y_pred), axis=-1)
    return ops.softplus(negatives + alpha * z_y - z_y)


class LiteralWSoftmax(keras.losses.Loss):
    def __init__(self, alpha):
        super().__init__(name="literal_wsoftmax")
        self.alpha = alpha

    def call(self, y_true, y_pred):
        return literal_wsoftmax(y_true, y_pred, self.alpha)


def loss_for(variant, alpha):
    return LiteralWSoftmax(alpha) if variant == "literal" else WSoftmax(alpha)


def run_one(dataset, args, mode, variant, alpha, seed):
    x_train, _, x_test, y_test, num_classes = dataset
    head = {"normalize": HEAD_MODES[mode]}
    if HEAD_MODES[mode]:
        head["scale"] = args.scale
    model = common.cnn(x_train.shape[1:], num_classes, seed, **head)
    result = common.train(model, loss_for(variant, alpha), dataset, args)
    result.update(common.feature_geometry(common.fc_features(model, x_test), y_test))
    result.update({"mode": mode, "variant": variant, "alpha": alpha, "seed": seed})
    del result["history"]
    return result


def summarize(results):
    """Mean and standard deviation over seeds of each (mode, variant, alpha)."""
    groups = {}
    for r in results:
        groups.setdefault((r["mode"], r["variant"], r["alpha"]), []).append(r)
    summary = []
    for (mode, variant, alpha), runs in groups.items():
        row = {"mode": mode, "variant": variant, "alpha": alpha, "seeds": len(runs)}
        for key in ["test_accuracy", "dead_feature_fraction", *GEOMETRY]:
            row[key], row[key + "_std"] = common.mean_std([r[key] for r in runs])
        row["accuracy_by_seed"] = {r["seed"]: r["test_accuracy"] for r in runs}
        summary.append(row)
    return summary


def verdicts(summary):
    """Whether each alpha beats cross-entropy by more than the seed-to-seed spread."""
    lines = []
    for mode in HEAD_MODES:
        rows = {(r["variant"], r["alpha"]): r for r in summary if r["mode"] == mode}
        ce = rows.get(("ours", 0.0))
        if ce is None:
            continue
        for (variant, alpha), r in sorted(rows.items()):
            if (variant, alpha) == ("ours", 0.0):
                continue
            gain = 100 * (r["test_accuracy"] - ce["test_accuracy"])
            spread = 100 * max(r["test_accuracy_std"], ce["test_accuracy_std"])
            if gain > spread:
                word = "beats cross-entropy by more than the seed spread"
            elif gain < -spread:
                word = "is worse than cross-entropy by more than the seed spread"
            else:
                word = "is within the seed spread of cross-entropy"
            label = "literal bias" if variant == "literal" else "W-Softmax"
            lines.append(
                f"- {mode} head, {label} alpha={alpha:g}: {gain:+.2f} points "
                f"(spread {spread:.2f}): {word}."
            )
    return lines


def label(row):
    return ("literal " if row["variant"] == "literal" else "") + f"{row['alpha']:g}"


def plot(summary, path, title):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for mode, marker in zip(HEAD_MODES, "os", strict=True):
        rows = sorted(
            (r for r in summary if r["mode"] == mode and r["variant"] == "ours"),
            key=lambda r: r["alpha"],
        )
        if not rows:
            continue
        alphas = [r["alpha"] for r in rows]
        common.plot_mean_std(
            axes[0], alphas, rows, "test_accuracy", 100, marker=marker, label=f"{mode} head"
        )
        common.plot_mean_std(
            axes[1], alphas, rows, "compactness_deg", marker=marker, label=f"{mode} head"
        )
        common.plot_mean_std(
            axes[2], alphas, rows, "separation_min_deg", marker=marker, label=f"{mode} head, min"
        )
        common.plot_mean_std(
            axes[2],
            alphas,
            rows,
            "separation_mean_deg",
            marker=marker,
            linestyle="--",
            label=f"{mode} head, mean",
        )
        for r in summary:
            if r["mode"] == mode and r["variant"] == "literal":
                common.plot_mean_std(
                    axes[0],
                    [r["alpha"]],
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
    common.save_figure(fig, axes, title, path)


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0], epochs=4, out="runs/benchmark")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.35, 0.5])
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, from --seed on")
    p.add_argument("--literal-alpha", type=float, default=0.2)
    p.add_argument("--scale", type=float, default=DEFAULT_SCALE, help="cosine head's scale")
    p.add_argument("--modes", nargs="+", choices=list(HEAD_MODES), default=list(HEAD_MODES))
    p.add_argument("--no-literal", action="store_true", help="skip the paper's literal bias")
    args = p.parse_args(argv)
    dataset = data.load_or_exit(args.dataset, args.data_dir, args.limit, args.test_limit)

    seeds = range(args.seed, args.seed + args.seeds)
    plan = [
        (mode, "ours", alpha, seed)
        for mode in args.modes
        for alpha in args.alphas
        for seed in seeds
    ]
    if not args.no_literal:
        plan += [
            (mode, "literal", args.literal_alpha, seed) for mode in args.modes for seed in seeds
        ]
    results = []
    for i, (mode, variant, alpha, seed) in enumerate(plan, 1):
        print(f"\n[{i}/{len(plan)}] {mode} head, {variant} alpha={alpha:g}, seed {seed}")
        results.append(run_one(dataset, args, mode, variant, alpha, seed))

    summary = summarize(results)
    header = ["head", "alpha", "test accuracy (%)", "compactness (deg)", "sep. min (deg)"]
    header += ["sep. mean (deg)", "dead features (%)"]
    rows = [
        [
            r["mode"],
            label(r),
            common.mean_std_cell(r, "test_accuracy", 100, 2),
            common.mean_std_cell(r, "compactness_deg"),
            common.mean_std_cell(r, "separation_min_deg"),
            common.mean_std_cell(r, "separation_mean_deg"),
            f"{100 * r['dead_feature_fraction']:.1f}",
        ]
        for r in summary
    ]
    table = common.markdown_table(header, rows)
    print("\n" + table)
    verdict = verdicts(summary)
    print("\n".join(verdict))

    args.out.mkdir(parents=True, exist_ok=True)
    plot(
        summary,
        args.out / "benchmark.png",
        f"{args.dataset}, {args.epochs} epochs, {args.seeds} seeds",
    )
    common.write_report(
        args.out,
        "benchmark",
        f"Benchmark: what W-Softmax buys on {args.dataset}",
        args,
        {"summary": summary, "runs": results},
        f"{common.budget_markdown(args, dataset, args.seeds)}\n"
        "- Model: the Keras MNIST example CNN ending in `WSoftmaxHead(C)` at `min_units` "
        f"(cosine head: `normalize=True, scale={args.scale:g}`; plain head: `normalize=False`)\n\n"
        "Accuracy and geometry are mean ± standard deviation over seeds. Geometry is measured "
        "on the test-set FC features: compactness is the mean angle between a feature and "
        "its class mean, separation the minimum and mean angle between class means. "
        "'literal' rows bias the negatives by alpha * z_y, as the paper writes it; the "
        "package biases by alpha * |z_y|. Dead features are test samples whose FC features "
        "are all zero (every ReLU off).\n\n"
        f"{table}\n\n## Verdict\n\n" + "\n".join(verdict) + "\n\n![benchmark](benchmark.png)\n",
    )
    print(f"\nwrote {args.out}/benchmark.md, benchmark.json, benchmark.png")
    return summary


if __name__ == "__main__":
    main()
