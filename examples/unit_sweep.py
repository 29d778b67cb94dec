"""The paper's sizing claim put to the test: accuracy, parameters and time against FC width.

Trains the example CNN with `WSoftmaxHead(C, units=width)` for each width and
seed, with cross-entropy and with W-Softmax at one alpha, and marks
`min_units(C, "relu")` on the plot.

    python examples/unit_sweep.py --out reports
"""

import common
import data
import matplotlib.pyplot as plt

from keras_wsoftmax import DEFAULT_ALPHA, WSoftmax, min_units


def default_widths(num_classes):
    return sorted({2, 4, 8, num_classes - 1, num_classes, 2 * num_classes, 64, 256, 1024})


def summarize(results):
    groups = {}
    for r in results:
        groups.setdefault((r["alpha"], r["units"]), []).append(r)
    summary = []
    for (alpha, units), runs in sorted(groups.items()):
        accuracy, accuracy_std = common.mean_std([r["test_accuracy"] for r in runs])
        seconds, seconds_std = common.mean_std([r["mean_epoch_seconds"] for r in runs])
        summary.append(
            {
                "alpha": alpha,
                "units": units,
                "seeds": len(runs),
                "test_accuracy": accuracy,
                "test_accuracy_std": accuracy_std,
                "epoch_seconds": seconds,
                "epoch_seconds_std": seconds_std,
                "head_parameters": runs[0]["head_parameters"],
                "model_parameters": runs[0]["model_parameters"],
            }
        )
    return summary


def findings(summary, smallest):
    """Where accuracy saturates, and what the small head saves against the widest."""
    lines = []
    for alpha in sorted({r["alpha"] for r in summary}):
        rows = [r for r in summary if r["alpha"] == alpha]
        name = "cross-entropy" if alpha == 0 else f"W-Softmax alpha={alpha:g}"
        best = max(rows, key=lambda r: r["test_accuracy"])
        saturated = next(
            r
            for r in rows
            if best["test_accuracy"] - r["test_accuracy"]
            <= max(best["test_accuracy_std"], r["test_accuracy_std"])
        )
        lines.append(
            f"- {name}: best mean accuracy {100 * best['test_accuracy']:.2f}% at "
            f"{best['units']} units; the smallest width within the seed spread of it is "
            f"{saturated['units']} units (min_units = {smallest})."
        )
        at_min = next((r for r in rows if r["units"] == smallest), None)
        widest = max(rows, key=lambda r: r["units"])
        if at_min and widest is not at_min:
            lines.append(
                f"  At min_units against {widest['units']} units: head parameters "
                f"{at_min['head_parameters']:,} vs {widest['head_parameters']:,} "
                f"({widest['head_parameters'] / at_min['head_parameters']:.0f}x fewer), "
                f"model parameters {at_min['model_parameters']:,} vs "
                f"{widest['model_parameters']:,}, epoch time {at_min['epoch_seconds']:.1f} s vs "
                f"{widest['epoch_seconds']:.1f} s, accuracy "
                f"{100 * (at_min['test_accuracy'] - widest['test_accuracy']):+.2f} points "
                f"(seed spread {100 * max(at_min['test_accuracy_std'], widest['test_accuracy_std']):.2f})."
            )
    return lines


def plot(summary, smallest, path, title):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for alpha in sorted({r["alpha"] for r in summary}):
        rows = [r for r in summary if r["alpha"] == alpha]
        name = "cross-entropy" if alpha == 0 else f"W-Softmax alpha={alpha:g}"
        units = [r["units"] for r in rows]
        common.plot_mean_std(axes[0], units, rows, "test_accuracy", 100, marker="o", label=name)
        common.plot_mean_std(axes[2], units, rows, "epoch_seconds", marker="o", label=name)
    rows = [r for r in summary if r["alpha"] == summary[0]["alpha"]]
    units = [r["units"] for r in rows]
    axes[1].plot(units, [r["head_parameters"] for r in rows], marker="o", label="head")
    axes[1].plot(units, [r["model_parameters"] for r in rows], marker="s", label="whole model")
    axes[0].set(title="Test accuracy (mean ± std over seeds)", ylabel="test accuracy (%)")
    axes[1].set(title="Parameters", ylabel="parameters", yscale="log")
    axes[2].set(title="Training time", ylabel="seconds per epoch")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("FC units (log scale)")
        ax.axvline(smallest, color="gray", linestyle=":", label=f"min_units = {smallest}")
    common.save_figure(fig, axes, title, path)


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0], epochs=3, out="runs/unit_sweep")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    p.add_argument("--widths", type=int, nargs="+", help="default: 2 4 8 C-1 C 2C 64 256 1024")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, from --seed on")
    args = p.parse_args(argv)
    dataset = data.load_or_exit(args.dataset, args.data_dir, args.limit, args.test_limit)
    x_train, _, _, _, num_classes = dataset
    widths = args.widths or default_widths(num_classes)
    smallest = min_units(num_classes, "relu")

    results = []
    # Seed-major order: a load change on a shared machine then touches every
    # width alike instead of skewing the epoch times of some.
    plan = [
        (alpha, units, seed)
        for seed in range(args.seed, args.seed + args.seeds)
        for alpha in (0.0, args.alpha)
        for units in widths
    ]
    for i, (alpha, units, seed) in enumerate(plan, 1):
        print(f"\n[{i}/{len(plan)}] alpha={alpha:g}, {units} units, seed {seed}")
        model = common.cnn(x_train.shape[1:], num_classes, seed, units=units)
        result = common.train(model, WSoftmax(alpha), dataset, args)
        del result["history"]
        result.update(
            {"alpha": alpha, "units": units, "seed": seed, "model_parameters": model.count_params()}
        )
        results.append(result)

    summary = summarize(results)
    header = ["loss", "FC units", "test accuracy (%)", "head params", "model params", "s / epoch"]
    rows = [
        [
            "cross-entropy" if r["alpha"] == 0 else f"W-Softmax {r['alpha']:g}",
            f"**{r['units']}**" if r["units"] == smallest else r["units"],
            common.mean_std_cell(r, "test_accuracy", 100, 2),
            f"{r['head_parameters']:,}",
            f"{r['model_parameters']:,}",
            common.mean_std_cell(r, "epoch_seconds"),
        ]
        for r in summary
    ]
    table = common.markdown_table(header, rows)
    found = findings(summary, smallest)
    print("\n" + table + "\n\n" + "\n".join(found))

    args.out.mkdir(parents=True, exist_ok=True)
    plot(
        summary,
        smallest,
        args.out / "unit_sweep.png",
        f"{args.dataset}: FC width sweep, {args.epochs} epochs, {args.seeds} seeds",
    )
    common.write_report(
        args.out,
        "unit_sweep",
        f"FC width sweep on {args.dataset}",
        args,
        {"summary": summary, "runs": results},
        f"{common.budget_markdown(args, dataset, args.seeds)}\n"
        "- Model: the Keras MNIST example CNN ending in `WSoftmaxHead(C, units=width)` "
        "(ReLU FC layer, cosine logits with scale 16)\n\n"
        f"`min_units({num_classes}, 'relu') = {smallest}` (bold). Epoch times are wall-clock "
        "on a shared machine: compare them within this run only.\n\n"
        f"{table}\n\n## Findings\n\n" + "\n".join(found) + "\n\n![unit sweep](unit_sweep.png)\n",
    )
    print(f"\nwrote {args.out}/unit_sweep.md, unit_sweep.json, unit_sweep.png")
    return summary


if __name__ == "__main__":
    main()
