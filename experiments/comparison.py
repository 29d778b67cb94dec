"""Losses compared side by side: the flags, one measured run, and the paired summary.

The evidence studies (`overfitting`, `unseen_classes`, `noisy_labels`) each
prepare their data per seed and call `measured_run` for every loss; every
loss at one seed starts from the same weights and sees the same data in the
same order, so differences to cross-entropy are paired by seed.
"""

import json
from collections import Counter
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np

from experiments import geometry, reporting
from experiments.losses import BASELINE, DEFAULT_LOSSES, make
from experiments.losses import label as loss_label
from experiments.models import for_inputs
from experiments.statistics import mean_std, paired_difference, verdict
from experiments.training import outputs, train
from keras_wsoftmax import DEFAULT_SCALE
from keras_wsoftmax.geometry import feature_geometry


class Settings(NamedTuple):
    """How every run of a study trains: the same for every loss and seed."""

    epochs: int
    batch_size: int
    scale: float = DEFAULT_SCALE
    dropout: float = 0.5
    verbose: int = 0
    fit_target: float | None = None  # stop once an epoch's training accuracy reaches it


def add_loss_flags(p, losses=None):
    """``--losses``, ``--scale`` and ``--resume``: the flags of a study that compares losses."""
    p.add_argument(
        "--losses",
        nargs="+",
        default=losses or DEFAULT_LOSSES,
        help="cross-entropy, wsoftmax-ALPHA, cosface[-M], arcface[-M], label-smoothing[-EPS]",
    )
    p.add_argument("--scale", type=float, default=DEFAULT_SCALE, help="cosine head's scale")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the runs of the report already in --out (same settings), run only the rest",
    )


# Flags that choose which runs a study makes or where it writes, not what a run computes.
PLAN_FLAGS = {"seed", "seeds", "losses", "out", "verbose", "resume"}


def earlier_runs(args, stem, group, plan_flags=()):
    """With ``--resume``: the runs of the report ``{args.out}/{stem}.json``, by (group, seed, loss).

    A long study stopped part way, or run with fewer seeds, continues from
    its report instead of starting over; on a deterministic backend a
    reused run holds exactly the numbers a new one would. Runs are reused
    only from a report with the same settings: every flag but those that
    choose the runs (`PLAN_FLAGS` and the study's own `plan_flags`, such
    as its noise rates) must be equal, or the study exits naming the
    flags that differ. Each reused run records the report it came from
    (``reused_from``), which `reuse_note` names in the new report.
    """
    path = args.out / f"{stem}.json"
    if not args.resume or not path.exists():
        return {}
    saved = json.loads(path.read_text())
    ignored = PLAN_FLAGS | set(plan_flags)
    current = json.loads(json.dumps(vars(args), default=str))
    differ = sorted(
        name
        for name in (current.keys() | saved["args"].keys()) - ignored
        if current.get(name) != saved["args"].get(name)
    )
    if differ:
        raise SystemExit(
            f"--resume: {path} was made with other settings ({', '.join(differ)}: "
            f"{[saved['args'].get(n) for n in differ]} there, {[current.get(n) for n in differ]} "
            "now); use another --out or the same flags."
        )
    source = f"{saved['provenance']['date']}: `{saved['provenance']['command']}`"
    runs = {}
    for run in saved["runs"]:
        run.setdefault("reused_from", source)
        runs[(run[group], run["seed"], run["loss"])] = run
    return runs


def measured_run(
    dataset, loss_key, seed, settings, train_accuracy=False, units=None, normalize=True
):
    """Trains the study's model (`models.for_inputs`) with one loss and measures it on the test set.

    Returns the test accuracy and cross-entropy, calibration (ECE, NLL) and
    geometry of the head's FC features on the test set, with the training
    set's accuracy if `train_accuracy` (one more pass over it), plus the
    trained model for further measures. `units` is the FC width (default
    `min_units`); `normalize=False` gives the head plain logits (the scale
    of `settings` unused).
    """
    model = for_inputs(
        dataset.input_shape,
        dataset.num_classes,
        seed,
        dropout=settings.dropout,
        units=units,
        normalize=normalize,
        scale=settings.scale,
    )
    loss = make(loss_key, settings.scale)
    result, _ = train(
        model,
        loss,
        dataset,
        settings.epochs,
        settings.batch_size,
        settings.verbose,
        fit_target=settings.fit_target,
    )
    logits, features, _ = outputs(model, dataset.x_test)
    result.update(geometry.calibration(logits, dataset.y_test))
    result.update(feature_geometry(features, dataset.y_test))
    if train_accuracy:
        # Only the logits: the features of the whole training set are not needed.
        train_logits = model.predict(dataset.x_train, batch_size=1024, verbose=0)
        result["train_accuracy"] = float(np.mean(train_logits.argmax(-1) == dataset.y_train))
        result["gap"] = result["train_accuracy"] - result["test_accuracy"]
    result.update({"loss": loss_key, "seed": seed})
    return result, model


def summarize(runs, metrics, group="group", compared="loss", baseline=BASELINE):
    """Per (group, compared value): mean ± std of each metric, and the paired difference.

    Runs are grouped by ``run[group]``; within a group, the runs of each
    ``run[compared]`` value (a loss by default) are paired by seed with the
    runs whose value is `baseline`, and the summary row holds
    ``{metric}_diff`` (see `paired_difference`) for every value but the
    baseline.
    """
    rows = []
    for name in dict.fromkeys(r.get(group) for r in runs):
        in_group = [r for r in runs if r.get(group) == name]
        reference = {r["seed"]: r for r in in_group if r[compared] == baseline}
        for value in dict.fromkeys(r[compared] for r in in_group):
            chosen = sorted((r for r in in_group if r[compared] == value), key=lambda r: r["seed"])
            row = {group: name, compared: value, "seeds": [r["seed"] for r in chosen]}
            for metric in metrics:
                row[metric], row[metric + "_std"] = mean_std([r[metric] for r in chosen])
                paired = [r for r in chosen if r["seed"] in reference]
                if value != baseline and paired:
                    row[metric + "_diff"] = paired_difference(
                        [r[metric] for r in paired], [reference[r["seed"]][metric] for r in paired]
                    )
            rows.append(row)
    return rows


# What the studies measure, by name: their words in tables, findings and figures.
METRIC_NAMES = {
    "test_accuracy": "test accuracy (%)",
    "train_accuracy": "training accuracy (%)",
    "gap": "train - test gap (points)",
    "compactness_deg": "compactness (deg)",
    "separation_min_deg": "separation min (deg)",
    "separation_mean_deg": "separation mean (deg)",
    "dead_feature_fraction": "dead features (%)",
    "ece": "ECE (%)",
    "nll": "NLL (nats)",
    "fc_recall_at_1": "FC Recall@1 (%)",
    "fc_map": "FC mAP (%)",
    "backbone_recall_at_1": "backbone Recall@1 (%)",
    "backbone_map": "backbone mAP (%)",
    "mean_epoch_seconds": "s / epoch",
    "epochs_trained": "epochs trained",
}
# Metrics kept as fractions in the runs and printed in %.
PERCENT = {name for name, words in METRIC_NAMES.items() if "(%)" in words or "points" in words}


def _short(metric):
    return METRIC_NAMES[metric].split(" (")[0]


def findings(summary, group, metrics, baseline=BASELINE):
    """One line per (group, loss) against the baseline: each metric's paired verdict."""
    lines = []
    for row in summary:
        if row["loss"] == baseline:
            continue
        parts = []
        for metric in metrics:
            if metric + "_diff" not in row:
                continue
            scale = 100.0 if metric in PERCENT else 1.0
            parts.append(
                f"{_short(metric)} {verdict(row[metric + '_diff'])} "
                f"({reporting.difference_cell(row, metric, scale)})"
            )
        lines.append(
            f"- {group} {row[group]}, {loss_label(row['loss'])}: " + "; ".join(parts) + "."
        )
    return lines


def plot(summary, group, metrics, title):
    """One panel per metric: mean ± std per loss, one series per group value."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 4.4), squeeze=False)
    axes = axes[0]
    losses = list(dict.fromkeys(r["loss"] for r in summary))
    groups = list(dict.fromkeys(r[group] for r in summary))
    for ax, metric in zip(axes, metrics, strict=True):
        scale = 100.0 if metric in PERCENT else 1.0
        for k, name in enumerate(groups):
            rows = {r["loss"]: r for r in summary if r[group] == name}
            x = [
                i + 0.8 * (k - (len(groups) - 1) / 2) / max(len(groups), 1)
                for i in range(len(losses))
            ]
            reporting.plot_mean_std(
                ax,
                x,
                [rows[key] for key in losses],
                metric,
                scale,
                marker="o",
                linestyle="none",
                label=f"{group} {name}",
            )
        ax.set_xticks(
            range(len(losses)), [loss_label(key) for key in losses], rotation=45, ha="right"
        )
        ax.set(ylabel=METRIC_NAMES[metric], title=_short(metric))
    return reporting.finish_figure(fig, axes, title)


def table(summary, group, metrics, diffs):
    """A markdown table of summary rows: the group, the loss, then each metric.

    Each metric gets a mean ± std column, and those in `diffs` a column of
    the paired difference to the baseline with its 95% interval ("-" on the
    baseline's row). Metrics in `PERCENT` are printed in %.
    """
    header = [group, "loss"]
    for metric in metrics:
        header.append(METRIC_NAMES[metric])
        if metric in diffs:
            header.append(f"Δ {_short(metric)} [95% CI]")
    rows = []
    for row in summary:
        cells = [f"{row[group]:g}" if isinstance(row[group], float) else row[group]]
        cells.append(loss_label(row["loss"]))
        for metric in metrics:
            scale = 100.0 if metric in PERCENT else 1.0
            digits = 2 if metric in PERCENT else 1 if metric.endswith(("_deg", "_trained")) else 3
            cells.append(reporting.mean_std_cell(row, metric, scale, digits))
            if metric in diffs:
                cells.append(reporting.difference_cell(row, metric, scale, digits))
        rows.append(cells)
    return reporting.markdown_table(header, rows)


def reuse_note(runs):
    """For a report: how many of `runs` came from which earlier report (`earlier_runs`); "" if none."""
    reused = Counter(run["reused_from"] for run in runs if "reused_from" in run)
    return "".join(
        f"\n\n{count} of these {len(runs)} runs are reused (`--resume`) from the report of "
        f"{source}; their epoch times are that run's."
        for source, count in reused.items()
    )


def conclude(args, stem, title, runs, group, metrics, diffs, plotted, preamble):
    """Summarizes an evidence study and writes its report; returns the summary.

    Prints and writes the table (`metrics`, with paired intervals for
    `diffs`), one line of findings per loss from the intervals of `diffs`,
    and a figure of the `plotted` metrics, after `preamble` (budget, model,
    how to read the table) and a line per report that runs were reused from
    (`earlier_runs`).
    """
    summary = summarize(runs, metrics, group=group)
    preamble += reuse_note(runs)
    result_table = table(summary, group, metrics, diffs)
    found = findings(summary, group, diffs)
    print("\n" + result_table + "\n\n" + "\n".join(found))
    reporting.write_report(
        args.out,
        stem,
        title,
        args,
        {"summary": summary, "runs": runs},
        f"{preamble}\n\n{result_table}\n\n## Findings\n\n"
        + "\n".join(found)
        + f"\n\n![{stem}]({stem}.png)\n",
        figures={stem: plot(summary, group, plotted, title)},
    )
    return summary
