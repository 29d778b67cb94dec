"""The paper's sizing claim put to the test: accuracy, cost and time against FC width.

Trains the examples' CNN (an MLP on ``--dataset synthetic-C``, a task whose
class count is free: `experiments.data.synthetic`) with `WSoftmaxHead(C,
units=width)` for each width, loss and seed (every width of one seed starts
from the same backbone weights and sees the same data order), and reports
test accuracy with its paired difference to the widest head (95% t
interval), the head's parameters and FLOPs per example, and the epoch time;
it names the smallest width from which every interval includes 0, and marks
`min_units(C, "relu")`.

    python -m experiments.width --out reports/width
    python -m experiments.width --dataset synthetic-100 --widths 25 50 100 200 400 1600
"""

from experiments import cli, losses, reporting, runner

METRICS = ["test_accuracy", "mean_epoch_seconds", "ece"]


def default_widths(num_classes):
    """``min_units(C)`` (= C for ReLU), 2C, 4C, 8C, 16C and a wide reference of 1024."""
    return sorted({num_classes * k for k in (1, 2, 4, 8, 16)} | {1024})


def flags(p):
    p.add_argument("--widths", type=int, nargs="+", help="default: C 2C 4C 8C 16C 1024")


def widths_of(args, dataset):
    return sorted(args.widths or default_widths(dataset.num_classes))


def plan(args, dataset):
    # Seed-major order: a load change on a shared machine then touches every
    # width alike instead of skewing the epoch times of some.
    return [
        runner.Cell(units, seed, dataset, runner.settings(args), model={"units": units})
        for seed in cli.seeds(args)
        for units in widths_of(args, dataset)
    ]


def measure(result, model, cell):
    from experiments.models import head_flops

    input_dim = model.layers[-1].input.shape[-1]
    result["flops"] = head_flops(input_dim, cell.group, cell.dataset.num_classes)


def report(args, runs, dataset, determinism):
    from experiments import comparison
    from keras_wsoftmax import min_units

    widths = widths_of(args, dataset)
    smallest = min_units(dataset.num_classes, "relu")
    summary = comparison.summarize(
        runs, METRICS, group="loss", compared="units", baseline=widths[-1]
    )
    # Size and FLOPs depend on the width alone.
    cost = {
        r["units"]: {k: r[k] for k in ("head_parameters", "model_parameters", "flops")}
        for r in runs
    }
    for row in summary:
        row.update(cost[row["units"]])
    table = results_table(summary, smallest, widths[-1])
    found = findings(summary, smallest, widths[-1])
    print("\n" + table + "\n\n" + "\n".join(found))
    reporting.write_report(
        args.out,
        "width",
        f"FC width on {args.dataset}: accuracy and cost against the widest head",
        args,
        {"summary": summary, "runs": runs},
        f"{reporting.budget_markdown(args.epochs, args.batch_size, dataset, cli.seeds(args))}; "
        f"{determinism}\n"
        f"- Model: {model_text(dataset)} ending in `WSoftmaxHead(C, units=width)` "
        f"(ReLU FC layer, cosine logits with scale {args.scale:g})\n\n"
        f"`min_units({dataset.num_classes}, 'relu') = {smallest}` (bold). Δ is the paired "
        f"difference to {widths[-1]} units at the same loss and seed, with its 95% t interval. "
        "FLOPs are counted (`experiments.models.head_flops`), not measured; epoch times are "
        "wall-clock on this machine, comparable within this run only."
        f"{comparison.reuse_note(runs)}\n\n"
        f"{table}\n\n## Findings\n\n" + "\n".join(found) + "\n\n![width](width.png)\n",
        figures={"width": plot(summary, smallest, args)},
    )
    return summary


def model_text(dataset):
    if len(dataset.input_shape) == 3:
        return "the examples' CNN (dropout 0.5)"
    return (
        "an MLP (two ReLU layers of 512, dropout 0.5) on `experiments.data.synthetic"
        f"({dataset.num_classes})` ({len(dataset.y_train)} training and {len(dataset.y_test)} "
        f"test samples of {dataset.input_shape[0]} dimensions, task seed 0)"
    )


def results_table(summary, smallest, widest):
    header = ["loss", "FC units", "test accuracy (%)", f"Δ to {widest} units [95% CI]"]
    header += ["head params", "head kFLOPs / example", "s / epoch", "ECE (%)"]
    rows = [
        [
            losses.label(r["loss"]),
            f"**{r['units']}**" if r["units"] == smallest else r["units"],
            reporting.mean_std_cell(r, "test_accuracy", 100, 2),
            reporting.difference_cell(r, "test_accuracy", 100),
            f"{r['head_parameters']:,}",
            f"{r['flops'] / 1e3:,.1f}",
            reporting.mean_std_cell(r, "mean_epoch_seconds"),
            reporting.mean_std_cell(r, "ece", 100, 2),
        ]
        for r in summary
    ]
    return reporting.markdown_table(header, rows)


def findings(summary, smallest, widest):
    """Per loss: the smallest width from which every paired interval to the widest includes 0.

    "From which on", not "whose": a narrow width whose interval is wide
    (one unstable seed) includes 0 without keeping accuracy, and a wider
    width that loses accuracy then says so.
    """
    from experiments.statistics import verdict

    lines = []
    for key in dict.fromkeys(r["loss"] for r in summary):
        rows = sorted((r for r in summary if r["loss"] == key), key=lambda r: r["units"])
        wide = next(r for r in rows if r["units"] == widest)
        chosen = wide
        for row in reversed(rows[:-1]):
            if verdict(row["test_accuracy_diff"]) != "no difference":
                break
            chosen = row
        line = (
            f"- {losses.label(key)}: the smallest width from which every accuracy "
            f"interval to {widest} units includes 0 is {chosen['units']} units "
            f"({wide['head_parameters'] / chosen['head_parameters']:.1f}x fewer head parameters)."
        )
        at_min = next((r for r in rows if r["units"] == smallest), None)
        if at_min is not None and at_min is not wide:
            line += (
                f" At min_units = {smallest}: {reporting.difference_cell(at_min, 'test_accuracy', 100)}"
                f" points, {wide['head_parameters'] / at_min['head_parameters']:.0f}x fewer head "
                f"parameters, {wide['flops'] / at_min['flops']:.0f}x fewer head FLOPs, epoch time "
                f"{at_min['mean_epoch_seconds'] / wide['mean_epoch_seconds']:.2f}x."
            )
        lines.append(line)
    return lines


def plot(summary, smallest, args):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for key in dict.fromkeys(r["loss"] for r in summary):
        rows = [r for r in summary if r["loss"] == key]
        units = [r["units"] for r in rows]
        label = losses.label(key)
        reporting.plot_mean_std(axes[0], units, rows, "test_accuracy", 100, marker="o", label=label)
        reporting.plot_mean_std(axes[2], units, rows, "mean_epoch_seconds", marker="o", label=label)
    rows = [r for r in summary if r["loss"] == summary[0]["loss"]]
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
    return reporting.finish_figure(
        fig, axes, f"{args.dataset}: FC width, {args.epochs} epochs, {args.seeds} seeds"
    )


STUDY = runner.Study(
    name="width",
    description=__doc__.splitlines()[0],
    group="units",
    plan=plan,
    title=None,
    preamble=None,
    epochs=3,
    seeds=3,
    # The package's DEFAULT_ALPHA (a test keeps them equal).
    losses=(losses.BASELINE, "wsoftmax-0.2"),
    flags=flags,
    plan_flags=("widths",),
    measure=measure,
    report=report,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
