"""Partial FC against the full softmax: accuracy at many classes, when each step sees a sample of them.

For each seed a many-class task is drawn (`experiments.data.synthetic`, one
Gaussian per class by default) and an MLP ending in
``WSoftmaxHead(C, units=--units, output_mode="features")`` is trained with
the head's fused loss (`WSoftmaxHead.fused_loss`) at each
``--rates`` value: 1.0 is the full softmax (every class each step), below
it Partial FC (the batch's classes and a uniform sample of the others,
``ceil(rate x C)`` in all). Every rate of a seed trains on the same task
from the same weights; the sample is drawn from the seed. The
test accuracy is over every class (`WSoftmaxHead.logits`). The report
pairs each rate against the first (1.0) per loss and seed (95% t
intervals), and each loss against the first of ``--losses`` at each rate.

The report's command gives ``--scale 32``, the head's default at 10,000
classes (`keras_wsoftmax.recommended_scale`), as a user gets it (without
it, the studies' `DEFAULT_SCALE`, 16).

    python -m experiments.partial_fc_accuracy --scale 32 --out reports/partial_fc_accuracy --verbose 0
"""

from experiments import cli, losses, reporting, runner

LOSSES = ("wsoftmax-0.2", "arcface")
METRICS = ("test_accuracy", "test_cross_entropy")


def flags(p):
    p.add_argument("--classes", type=int, default=10_000, help="class count (default 10000)")
    p.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[1.0, 0.3, 0.1],
        help="sample rates; the first is the base (default 1.0 0.3 0.1)",
    )
    p.add_argument("--per-class", type=int, default=10, help="training samples per class")
    p.add_argument("--test-per-class", type=int, default=3, help="test samples per class")
    p.add_argument("--units", type=int, default=128, help="the head's FC width (default 128)")
    p.add_argument("--dim", type=int, default=32, help="the task's input dimensions")
    p.add_argument("--modes", type=int, default=1, help="Gaussians per class (default 1)")
    p.add_argument("--noise", type=float, default=1.0, help="the task's noise (default 1)")


def task(args, seed):
    import functools

    from experiments import data

    return functools.partial(
        data.synthetic,
        args.classes,
        seed=seed,
        dim=args.dim,
        modes=args.modes,
        noise=args.noise,
        train_per_class=args.per_class,
        test_per_class=args.test_per_class,
    )


def plan(args, _):
    return [
        runner.Cell(
            f"rate {rate:g}",
            seed,
            task(args, seed),
            runner.settings(args, dropout=0.0),
            model={"units": args.units, "mlp_shape": (1, 512), "sample_rate": rate},
            record={"sample_rate": rate},
        )
        for seed in cli.seeds(args)  # seed-major: a stopped run holds whole seeds
        for rate in args.rates
    ]


def rate_table(runs, base):
    """Per loss: each rate's measures, and the rate minus the base rate paired by seed."""
    from experiments import comparison

    summary = comparison.summarize(
        runs, list(METRICS), group="loss", compared="sample_rate", baseline=base
    )
    header = ["loss", "sample rate", "test accuracy (%)", f"Δ to rate {base:g} [95% CI]"]
    header.append("test cross-entropy")
    rows = [
        [
            losses.label(row["loss"]),
            f"{row['sample_rate']:g}",
            reporting.mean_std_cell(row, "test_accuracy", 100, 2),
            reporting.difference_cell(row, "test_accuracy", 100),
            reporting.mean_std_cell(row, "test_cross_entropy", 1, 3),
        ]
        for row in summary
    ]
    return reporting.markdown_table(header, rows), summary


def findings(summary, base):
    from experiments.statistics import verdict

    return [
        f"- {losses.label(row['loss'])}, sample rate {row['sample_rate']:g} against "
        f"{base:g}: test accuracy {verdict(row['test_accuracy_diff'])} "
        f"({reporting.difference_cell(row, 'test_accuracy', 100)})."
        for row in summary
        if row["sample_rate"] != base
    ]


def report(args, runs, _, determinism):
    from experiments import comparison

    base = args.rates[0]
    table, summary = rate_table(runs, base)
    first = args.losses[0]
    loss_summary = comparison.summarize(
        runs, ["test_accuracy"], group="sample_rate", baseline=first
    )
    by_loss = comparison.table(loss_summary, "sample_rate", ["test_accuracy"], ["test_accuracy"])
    found = findings(summary, base)
    found += comparison.findings(loss_summary, "sample_rate", ["test_accuracy"], baseline=first)
    print("\n" + table + "\n\n" + by_loss + "\n\n" + "\n".join(found))
    seeds = cli.seeds(args)
    preamble = (
        f"- Budget per run: {args.epochs} epochs of {args.per_class} training samples per "
        f"class; batch {args.batch_size}; Adam 1e-3; seeds {seeds[0]} to {seeds[-1]} (each "
        f"seed draws its own task and the classes each step samples); {determinism}\n"
        f"- Task: `experiments.data.synthetic({args.classes}, seed=seed, dim={args.dim}, "
        f"modes={args.modes}, noise={args.noise:g}, train_per_class={args.per_class}, "
        f"test_per_class={args.test_per_class})`\n"
        "- Model: one ReLU layer of 512, then "
        f'`WSoftmaxHead({args.classes}, units={args.units}, output_mode="features")` (cosine '
        f"logits, scale {args.scale:g}) trained with `head.fused_loss(loss, sample_rate=rate, "
        "seed=seed)`; every rate of a seed starts from the same weights\n\n"
        f"Mean ± std over seeds; Δ is the paired difference to rate {base:g} at the same loss "
        "and seed, with its 95% t interval, in points. Test accuracy and cross-entropy are over "
        "every class. What sampling saves in time and memory is measured side by side in "
        "`reports/partial_fc`; the runs here shared the machine with other studies, so their "
        "epoch times (in the JSON) are not a measure of it." + comparison.reuse_note(runs)
    )
    reporting.write_report(
        args.out,
        "partial_fc_accuracy",
        f"Partial FC against the full softmax at {args.classes:,} classes",
        args,
        {"summary": summary, "loss_summary": loss_summary, "runs": runs},
        f"{preamble}\n\n## Each sample rate against rate {base:g}\n\n{table}\n\n"
        f"## Each loss against {losses.label(first)}, at each rate\n\n{by_loss}\n\n"
        "## Findings\n\n" + "\n".join(found) + "\n",
    )
    return summary


STUDY = runner.Study(
    name="partial_fc_accuracy",
    description=__doc__.splitlines()[0],
    group="cell",
    plan=plan,
    title=None,
    preamble=None,
    epochs=10,
    losses=LOSSES,
    flags=flags,
    plan_flags=("rates",),  # a run is keyed by its rate: every other flag must match to reuse it
    report=report,
    data=False,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
