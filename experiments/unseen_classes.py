"""Feature quality on unseen classes: train on 5 classes, retrieve among the other 5.

How margin losses are used in practice (retrieval, verification, few-shot):
the features must separate classes the model never saw. For each seed and
loss, the examples' CNN is trained on the training images of the seen
classes (T-shirt/top, Trouser, Pullover, Dress, Coat by default), then the
test images of the other classes are embedded, and every one queries all
the others by cosine similarity: Recall@1 and mAP, on the head's FC
features and on the backbone features before the head. Accuracy,
calibration and geometry are measured on the seen classes' test images.
Differences to cross-entropy are paired by seed, with 95% t intervals.

    python -m experiments.unseen_classes --out reports/unseen_classes
"""

from experiments import cli, runner

METRICS = (
    "fc_recall_at_1",
    "fc_map",
    "backbone_recall_at_1",
    "backbone_map",
    "test_accuracy",
    "compactness_deg",
    "ece",
)


def flags(p):
    p.add_argument(
        "--seen", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="classes trained on"
    )
    p.add_argument("--units", type=int, help="FC width (default: min_units of the seen classes)")


def plan(args, full):
    from experiments import data

    seen, unseen_x, unseen_y = data.split_classes(full, args.seen)
    return [
        runner.Cell(
            "unseen",
            seed,
            seen,
            runner.settings(args),
            model={"units": args.units},
            context=(unseen_x, unseen_y),
        )
        for seed in cli.seeds(args)
    ]


def measure(result, model, cell):
    """Recall@1 and mAP among the unseen classes' test images, on both embeddings."""
    from experiments.geometry import retrieval
    from experiments.training import outputs

    unseen_x, unseen_y = cell.context
    _, features, backbone = outputs(model, unseen_x)
    for name, embedding in [("fc", features), ("backbone", backbone)]:
        for metric, value in retrieval(embedding, unseen_y).items():
            result[f"{name}_{metric}"] = value


def preamble(args, full, determinism):
    import numpy as np

    seeds = cli.seeds(args)
    seen = int(np.isin(full.y_train, args.seen).sum())
    unseen = int((~np.isin(full.y_test, args.seen)).sum())
    return (
        f"- Budget per run: {args.epochs} epochs on {seen} training images of "
        f"classes {args.seen}; batch {args.batch_size}; Adam 1e-3; seeds {seeds[0]} to "
        f"{seeds[-1]}; {determinism}\n"
        f"- Retrieval set: the {unseen} test images of the other classes; each queries "
        "all the others by cosine similarity\n"
        f"- Model: the examples' CNN (dropout 0.5) ending in `WSoftmaxHead({len(args.seen)}"
        f", units={args.units or 'min_units(C)'})` (cosine logits, scale "
        f"{args.scale:g}); FC features are the head's, backbone features its input\n\n"
        "Mean ± std over seeds, in %; Δ is the paired difference to cross-entropy at the same "
        "seed with its 95% t interval, in points. Accuracy and ECE on the seen classes' test "
        "images."
    )


STUDY = runner.Study(
    name="unseen_classes",
    description=__doc__.splitlines()[0],
    group="task",
    plan=plan,
    title=lambda args: f"Feature quality on unseen classes of {args.dataset}",
    preamble=preamble,
    metrics=METRICS,
    diffs=METRICS,
    plotted=("fc_recall_at_1", "fc_map", "backbone_map", "test_accuracy"),
    epochs=10,
    flags=flags,
    measure=measure,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
