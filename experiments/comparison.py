"""Losses compared side by side: one measured run, resume, the paired summary and the report.

The studies (`experiments.runner`) call `measured_run` for every loss of
every cell; every loss at one seed starts from the same weights and sees
the same data in the same order, so differences to cross-entropy are paired
by seed.
"""

import json
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from experiments import geometry, reporting
from experiments.losses import BASELINE, make
from experiments.losses import label as loss_label
from experiments.models import for_inputs
from experiments.statistics import mean_std, paired_difference, verdict
from experiments.training import head_of, outputs, train
from keras_wsoftmax.geometry import feature_geometry

# Flags that choose which runs a study makes or where it writes, not what a run computes.
PLAN_FLAGS = {"seed", "seeds", "losses", "out", "verbose", "resume"}


def earlier_runs(args, stem, group, plan_flags=()):
    """With ``--resume``: the runs already made in ``args.out``, by (group, seed, loss).

    They come from the report ``{stem}.json`` and from ``{stem}.partial.json``,
    the runs of a study stopped before its report (`save_partial`). A long
    study stopped part way, or run with fewer seeds, continues instead of
    starting over; on a deterministic backend a reused run holds exactly
    the numbers a new one would. Runs are reused only from files of the
    same settings: every flag but those that choose the runs (`PLAN_FLAGS`
    and the study's own `plan_flags`, such as its noise rates) must be
    equal, or the study exits naming the flags that differ. Each reused run
    records the command it came from (``reused_from``), which `reuse_note`
    names in the new report.
    """
    runs = {}
    if not args.resume:
        return runs
    ignored = PLAN_FLAGS | set(plan_flags)
    current = json.loads(json.dumps(vars(args), default=str))
    for path in [args.out / f"{stem}.json", partial_path(args, stem)]:
        if not path.exists():
            continue
        saved = json.loads(path.read_text())
        differ = sorted(
            name
            for name in (current.keys() | saved["args"].keys()) - ignored
            if current.get(name) != saved["args"].get(name)
        )
        if differ:
            raise SystemExit(
                f"--resume: {path} was made with other settings ({', '.join(differ)}: "
                f"{[saved['args'].get(n) for n in differ]} there, "
                f"{[current.get(n) for n in differ]} now); use another --out or the same flags."
            )
        source = f"{saved['provenance']['date']}: `{saved['provenance']['command']}`"
        for run in saved["runs"]:
            run.setdefault("reused_from", source)
            runs[(run[group], run["seed"], run["loss"])] = run
    return runs


def partial_path(args, stem):
    return args.out / f"{stem}.partial.json"


def save_partial(args, stem, runs):
    """The runs so far, for ``--resume`` after a stop; the report replaces the file when done."""
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"provenance": reporting.provenance(), "args": vars(args), "runs": runs}
    partial_path(args, stem).write_text(json.dumps(payload, indent=2, default=str) + "\n")


def measured_run(
    dataset,
    loss_key,
    seed,
    settings,
    train_accuracy=False,
    units=None,
    normalize=True,
    mlp_shape=None,
    subcenters=1,
    sample_rate=None,
):
    """Trains the study's model (`models.for_inputs`) with one loss and measures it on the test set.

    Returns the test accuracy and cross-entropy, calibration (ECE, NLL) and
    geometry of the head's FC features on the test set, the training
    accuracy of each epoch (with dropout, as `fit` logs it), with the training
    set's accuracy if `train_accuracy` (one more pass over it), plus the
    trained model for further measures. `units` is the FC width (default
    `min_units`); `normalize=False` gives the head plain logits (the scale
    of `settings` unused). `mlp_shape` is the MLP's ``(depth, hidden)`` on
    vector inputs (`models.for_inputs`); `subcenters` the head's class
    weights per class. With `sample_rate` the head outputs its features
    and trains with its fused loss (`WSoftmaxHead.fused_loss`) at that
    rate, seeded by `seed` (1.0: every class, fused): `fit` then logs the
    loss (``epoch_loss``), not the accuracy, and the test measures come
    from the logits of every class.
    """
    fused = sample_rate is not None
    model = for_inputs(
        dataset.input_shape,
        dataset.num_classes,
        seed,
        dropout=settings.dropout,
        mlp_shape=mlp_shape,
        units=units,
        normalize=normalize,
        scale=settings.scale,
        subcenters=subcenters,
        output_mode="features" if fused else "logits",
    )
    loss = make(loss_key, settings.scale)
    if fused:
        loss = head_of(model).fused_loss(loss, sample_rate=sample_rate, seed=seed)
    steps_per_epoch = -(-len(dataset.y_train) // settings.batch_size)
    result, history = train(
        model,
        loss,
        dataset,
        settings.epochs,
        settings.batch_size,
        settings.verbose,
        fit_target=settings.fit_target,
        optimizer=settings.optimizer(steps_per_epoch) if settings.optimizer else None,
    )
    # Per epoch, to see whether a budget reached a plateau.
    if fused:
        result["epoch_loss"] = history["loss"]
    else:
        result["epoch_train_accuracy"] = history["accuracy"]
    logits, features, _ = outputs(model, dataset.x_test)
    result.update(geometry.calibration(logits, dataset.y_test))
    result.update(feature_geometry(features, dataset.y_test))
    if train_accuracy:
        if fused:
            train_logits = outputs(model, dataset.x_train)[0]
        else:  # only the logits: the features of the whole training set are not needed
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


def trained(run):
    """False for a run whose last epoch's training accuracy is not a point above its first's.

    That is a run that never rose, or one that rose and then collapsed (to
    chance, say) by its last epoch: either way its final model is not a
    trained one. True where the run has fewer than two epochs' accuracies to
    tell.
    """
    accuracy = run.get("epoch_train_accuracy") or []
    return len(accuracy) < 2 or accuracy[-1] >= accuracy[0] + 0.01


def did_not_train(runs, group):
    """One line per run that did not train (`trained`): it never rose, or it collapsed.

    A mean over seeds hides why one seed is far off; these lines name the
    runs that ended where they started or below.
    """
    lines = []
    for run in runs:
        accuracy = run.get("epoch_train_accuracy") or []
        if not trained(run):
            lines.append(
                f"- Did not train: {group} {run.get(group)}, seed {run['seed']}, "
                f"{loss_label(run['loss'])} (training accuracy {100 * accuracy[0]:.1f}% after "
                f"epoch 1, at most {100 * max(accuracy):.1f}% and {100 * accuracy[-1]:.1f}% "
                f"at the end of {len(accuracy)} epochs)."
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
            offset = 0.8 * (k - (len(groups) - 1) / 2) / max(len(groups), 1)
            present = [i for i, key in enumerate(losses) if key in rows]  # a group may lack some
            reporting.plot_mean_std(
                ax,
                [i + offset for i in present],
                [rows[losses[i]] for i in present],
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


def conclude(args, study, runs, preamble):
    """Summarizes a study (`runner.Study`) and writes its report; returns the summary.

    Prints and writes the table (the study's metrics, with paired intervals
    for its diffs), one line of findings per loss from the intervals of the
    diffs and one per run that did not train (`did_not_train`), and a
    figure of the plotted metrics (the study's `plot`, or `plot`), after
    `preamble` (budget, model, how to read the table) and a line per report
    that runs were reused from (`earlier_runs`).
    """
    group, metrics, baseline = study.group, list(study.metrics), study.baseline
    summary = summarize(runs, metrics, group=group, baseline=baseline)
    preamble += reuse_note(runs)
    result_table = table(summary, group, metrics, study.diffs)
    found = findings(summary, group, study.diffs, baseline=baseline) + did_not_train(runs, group)
    print("\n" + result_table + "\n\n" + "\n".join(found))
    title = study.title(args)
    figure = (
        study.plot(summary, title) if study.plot else plot(summary, group, study.plotted, title)
    )
    reporting.write_report(
        args.out,
        study.name,
        title,
        args,
        {"summary": summary, "runs": runs},
        f"{preamble}\n\n{result_table}\n\n## Findings\n\n"
        + "\n".join(found)
        + f"\n\n![{study.name}]({study.name}.png)\n",
        figures={study.name: figure},
    )
    return summary
