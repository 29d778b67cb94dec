"""Sub-centers against one class weight: clean and noisy labels, and the cleaning recipe.

For each noise rate and seed (the seed replaces that share of the training
labels by uniformly drawn classes, the same labels for every loss and head,
as in `experiments.noisy_labels`), the examples' CNN is trained with
`WSoftmaxHead(C, subcenters=K)` for each K and loss; a seed's heads of
every K start from the same backbone weights. The report pairs K against
``--subcenters``' first value (1) per loss, noise rate and seed (95% t
intervals), and each loss against cross-entropy at the same K.

With ``--clean-losses``, at the noise rate ``--clean-rate`` each such loss's
run with the largest K also runs the recipe of Deng et al. (`keras_wsoftmax.
geometry.subcenter_angles`): the training samples farther than
``--clean-angle`` degrees from their class's dominant sub-center are
dropped, and the loss is trained again with one class weight per class on
what is left, from the same backbone start; the report pairs that run
against K = 1 on all the noisy labels, and says how many samples were
dropped and how many of them had a replaced label.

    python -m experiments.subcenter_accuracy --out reports/subcenter_accuracy --verbose 0
"""

from experiments import cli, losses, reporting, runner

LOSSES = ("cross-entropy", "wsoftmax-0.2", "arcface")
METRICS = ("test_accuracy", "train_accuracy", "ece", "nll")


def flags(p):
    p.add_argument("--rates", type=float, nargs="+", default=[0.0, 0.2, 0.4], help="noise rates")
    p.add_argument(
        "--subcenters", type=int, nargs="+", default=[1, 3], help="K values; the first is the base"
    )
    p.add_argument(
        "--clean-losses",
        nargs="*",
        default=["arcface"],
        help="losses that also run the cleaning recipe (none: no recipe)",
    )
    p.add_argument("--clean-rate", type=float, default=0.4, help="noise rate of the recipe")
    p.add_argument(
        "--clean-angle",
        type=float,
        default=75.0,
        help="drop samples farther than this from their dominant sub-center (the paper's 75)",
    )


def cell_name(rate, k):
    return f"noise {rate:g}, K {k}"


def plan(args, clean):
    from experiments import data

    cells = []
    for seed in cli.seeds(args):  # seed-major: a load change touches every cell alike
        for rate in args.rates:
            noisy, replaced = data.with_noisy_labels(clean, rate, seed)
            for k in args.subcenters:
                recipe = rate == args.clean_rate and k == max(args.subcenters)
                cells.append(
                    runner.Cell(
                        cell_name(rate, k),
                        seed,
                        noisy,
                        runner.settings(args),
                        model={"subcenters": k},
                        record={
                            "rate": rate,
                            "subcenters": k,
                            "replaced_fraction": float(replaced.mean()),
                        },
                        # What the cleaning recipe needs there (`measure`).
                        context=(replaced, args.clean_losses, args.clean_angle) if recipe else None,
                    )
                )
    return cells


def measure(result, model, cell):
    """The cleaning recipe, on the cells and losses that run it (`plan`)."""
    if cell.context is None or result["loss"] not in cell.context[1]:
        return
    import numpy as np

    from experiments import comparison
    from experiments.training import head_of, outputs
    from keras_wsoftmax.geometry import subcenter_angles

    head = head_of(model)
    _, features, _ = outputs(model, cell.dataset.x_train)
    angles, _ = subcenter_angles(head, features, cell.dataset.y_train)
    # An all-zero feature vector (NaN angle) has no direction: it is dropped too.
    replaced, _, angle = cell.context
    kept = angles <= angle
    percentiles = {p: float(np.nanpercentile(angles, p)) for p in (10, 50, 90, 99)}
    if kept.sum() < cell.dataset.num_classes:
        shown = ", ".join(f"{p}th {a:.1f}" for p, a in percentiles.items())
        raise ValueError(
            f"the cleaning recipe kept {int(kept.sum())} of {kept.size} training samples at "
            f"--clean-angle {angle:g} ({result['loss']}, seed {cell.seed}): too few to train "
            f"on; their angles' percentiles in degrees: {shown}: pick the angle from them"
        )
    cleaned = cell.dataset._replace(
        x_train=cell.dataset.x_train[kept], y_train=cell.dataset.y_train[kept]
    )
    again, _ = comparison.measured_run(
        cleaned, result["loss"], cell.seed, cell.settings, train_accuracy=True, subcenters=1
    )
    dropped = ~kept
    result["cleaning"] = {
        "angle": angle,
        "dropped_fraction": float(dropped.mean()),
        "dropped_replaced_fraction": float(replaced[dropped].mean()) if dropped.any() else 0.0,
        "replaced_dropped_fraction": float(dropped[replaced].mean()) if replaced.any() else 0.0,
        "angle_percentiles": percentiles,
        **{metric: again[metric] for metric in METRICS},
    }


def k_table(runs, rates, base):
    """Per noise rate and loss: each K's accuracy, and K minus the base K paired by seed."""
    from experiments import comparison

    header = ["noise", "loss", "K", "test accuracy (%)", f"Δ to K = {base} [95% CI]"]
    header += ["training accuracy (%)", "ECE (%)", f"Δ ECE to K = {base} [95% CI]"]
    rows, summary = [], []
    for rate in rates:
        at_rate = [r for r in runs if r["rate"] == rate]
        part = comparison.summarize(
            at_rate, list(METRICS), group="loss", compared="subcenters", baseline=base
        )
        for row in part:
            row["rate"] = rate
            rows.append(
                [
                    f"{rate:g}",
                    losses.label(row["loss"]),
                    row["subcenters"],
                    reporting.mean_std_cell(row, "test_accuracy", 100, 2),
                    reporting.difference_cell(row, "test_accuracy", 100),
                    reporting.mean_std_cell(row, "train_accuracy", 100, 2),
                    reporting.mean_std_cell(row, "ece", 100, 2),
                    reporting.difference_cell(row, "ece", 100),
                ]
            )
        summary += part
    return reporting.markdown_table(header, rows), summary


def cleaning_table(runs, base):
    """The recipe's runs against the same loss at K = `base` on all the noisy labels.

    A seed whose model of many sub-centers did not train (`comparison.trained`)
    is left out and counted: its angles say nothing (a collapsed model puts
    every sample near one sub-center, so the recipe drops none and trains
    the K = `base` run again). A loss none of whose seeds trained keeps its
    row, with no figures: the recipe was not measured for it.
    """
    from experiments import comparison
    from experiments.statistics import paired_difference

    recipe = [r for r in runs if "cleaning" in r]
    rows, summary = [], []
    for key in dict.fromkeys(r["loss"] for r in recipe):
        of_loss = [r for r in recipe if r["loss"] == key]
        untrained = sorted(r["seed"] for r in of_loss if not comparison.trained(r))
        mine = sorted((r for r in of_loss if comparison.trained(r)), key=lambda r: r["seed"])
        if not mine:
            row = {"loss": key, "rate": of_loss[0]["rate"], "seeds": 0}
            row.update(untrained_seeds=untrained, subcenters=of_loss[0]["subcenters"])
            summary.append(row)
            rows.append(
                [
                    f"{row['rate']:g}",
                    losses.label(key),
                    *["-"] * 5,
                    0,
                    ", ".join(map(str, untrained)),
                ]
            )
            continue
        rate = mine[0]["rate"]
        plain = {
            r["seed"]: r
            for r in runs
            if r["loss"] == key and r["rate"] == rate and r["subcenters"] == base
        }
        paired = [r for r in mine if r["seed"] in plain]
        if not paired:
            continue
        cleaned = [r["cleaning"]["test_accuracy"] for r in paired]
        diff = paired_difference(cleaned, [plain[r["seed"]]["test_accuracy"] for r in paired])
        row = {"loss": key, "rate": rate, "test_accuracy_diff": diff, "seeds": len(paired)}
        row.update(untrained_seeds=untrained, subcenters=mine[0]["subcenters"])
        for field in ("dropped_fraction", "dropped_replaced_fraction", "replaced_dropped_fraction"):
            row[field] = sum(r["cleaning"][field] for r in paired) / len(paired)
        row["test_accuracy"] = sum(cleaned) / len(cleaned)
        summary.append(row)
        rows.append(
            [
                f"{rate:g}",
                losses.label(key),
                f"{100 * row['dropped_fraction']:.1f}",
                f"{100 * row['dropped_replaced_fraction']:.1f}",
                f"{100 * row['replaced_dropped_fraction']:.1f}",
                f"{100 * row['test_accuracy']:.2f}",
                reporting.difference_cell(row, "test_accuracy", 100),
                len(paired),
                ", ".join(map(str, untrained)) or "-",
            ]
        )
    header = [
        "noise",
        "loss",
        "dropped (%)",
        "of them replaced (%)",
        "replaced dropped (%)",
        "test accuracy after (%)",
        f"Δ to K = {base}, all labels [95% CI]",
        "seeds",
        "left out: did not train (seeds)",
    ]
    return reporting.markdown_table(header, rows), summary


def findings(k_summary, clean_summary, base):
    from experiments.statistics import verdict

    lines = []
    for row in k_summary:
        if row["subcenters"] == base:
            continue
        lines.append(
            f"- noise {row['rate']:g}, {losses.label(row['loss'])}: K = {row['subcenters']} "
            f"against K = {base}: test accuracy {verdict(row['test_accuracy_diff'])} "
            f"({reporting.difference_cell(row, 'test_accuracy', 100)})."
        )
    for row in clean_summary:
        if not row["seeds"]:
            lines.append(
                f"- The recipe at noise {row['rate']:g}, {losses.label(row['loss'])}: not "
                f"measured: no seed's K = {row['subcenters']} model trained (seeds "
                f"{', '.join(map(str, row['untrained_seeds']))})."
            )
            continue
        lines.append(
            f"- The recipe at noise {row['rate']:g}, {losses.label(row['loss'])}: "
            f"test accuracy {verdict(row['test_accuracy_diff'])} against K = {base} on all the "
            "noisy labels "
            f"({reporting.difference_cell(row, 'test_accuracy', 100)}); it dropped "
            f"{100 * row['dropped_fraction']:.1f}% of the training samples, "
            f"{100 * row['dropped_replaced_fraction']:.1f}% of them with a replaced label"
            + (
                f"; left out, seeds whose K = {row['subcenters']} model did not train: "
                f"{', '.join(map(str, row['untrained_seeds']))}."
                if row["untrained_seeds"]
                else "."
            )
        )
    return lines


def report(args, runs, dataset, determinism):
    from experiments import comparison

    base = args.subcenters[0]
    by_k, k_summary = k_table(runs, args.rates, base)
    cleaned, clean_summary = cleaning_table(runs, base)
    loss_summary = comparison.summarize(runs, list(METRICS), group="cell")
    by_loss = comparison.table(loss_summary, "cell", list(METRICS), ("test_accuracy", "ece"))
    found = findings(k_summary, clean_summary, base) + comparison.did_not_train(runs, "cell")
    print("\n" + by_k + "\n\n" + cleaned + "\n\n" + "\n".join(found))
    preamble = (
        f"{reporting.budget_markdown(args.epochs, args.batch_size, dataset, cli.seeds(args))}; "
        f"{determinism}\n"
        f"- Noise: rates {args.rates}; each seed replaces that share of the training labels by "
        "uniformly drawn classes (the same for every loss and K); test labels clean\n"
        "- Model: the examples' CNN (dropout 0.5) ending in "
        "`WSoftmaxHead(C, units=min_units(C), subcenters=K)` "
        f"(cosine logits, scale {args.scale:g}), K in {args.subcenters}; a seed's heads start "
        "from the same backbone weights\n"
        f"- Cleaning recipe: {', '.join(args.clean_losses) or 'none'} at noise "
        f"{args.clean_rate:g}, K = {max(args.subcenters)}: drop the training samples farther "
        f"than {args.clean_angle:g} degrees from their class's dominant sub-center, train again "
        "with K = 1 on the rest\n\n"
        f"Mean ± std over seeds; Δ is the paired difference to K = {base} at the same loss, noise "
        "and seed, with its 95% t interval, in points. Test accuracy is against the clean test "
        "labels; training accuracy against the noisy labels." + comparison.reuse_note(runs)
    )
    reporting.write_report(
        args.out,
        "subcenter_accuracy",
        f"Sub-centers on {args.dataset}: clean and noisy labels",
        args,
        {"k_summary": k_summary, "cleaning": clean_summary, "runs": runs},
        f"{preamble}\n\n## Sub-centers against one class weight\n\n{by_k}\n\n"
        f"## The cleaning recipe\n\n{cleaned}\n\n"
        "## Each loss against cross-entropy, at each noise and K\n\n"
        f"{by_loss}\n\n## Findings\n\n" + "\n".join(found) + "\n",
    )
    return k_summary


STUDY = runner.Study(
    name="subcenter_accuracy",
    description=__doc__.splitlines()[0],
    group="cell",
    plan=plan,
    title=None,
    preamble=None,
    epochs=4,
    losses=LOSSES,
    flags=flags,
    # The recipe's flags change what a run holds (its "cleaning"): they must match to reuse it.
    plan_flags=("rates", "subcenters"),
    measure=measure,
    train_accuracy=True,
    report=report,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
