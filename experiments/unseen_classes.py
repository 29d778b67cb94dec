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

from experiments import cli, comparison, data
from experiments.geometry import retrieval
from experiments.training import outputs

METRICS = [
    "fc_recall_at_1",
    "fc_map",
    "backbone_recall_at_1",
    "backbone_map",
    "test_accuracy",
    "compactness_deg",
    "ece",
]
DIFFS = METRICS
PLOTTED = ["fc_recall_at_1", "fc_map", "backbone_map", "test_accuracy"]


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], epochs=10, out="runs/unseen_classes", seeds=5)
    p.add_argument(
        "--seen", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="classes trained on"
    )
    p.add_argument("--units", type=int, help="FC width (default: min_units of the seen classes)")
    comparison.add_loss_flags(p)
    args, determinism, full = cli.start(p, argv)
    seen, unseen_x, unseen_y = data.split_classes(full, args.seen)
    settings = comparison.Settings(args.epochs, args.batch_size, args.scale, 0.5, args.verbose)

    earlier = comparison.earlier_runs(args, "unseen_classes", "task")
    runs = []
    for seed in cli.seeds(args):
        for loss_key in args.losses:
            print(f"seed {seed}, {loss_key}", flush=True)
            if ("unseen", seed, loss_key) in earlier:
                runs.append(earlier["unseen", seed, loss_key])
                continue
            result, model = comparison.measured_run(
                seen, loss_key, seed, settings, units=args.units
            )
            _, features, backbone = outputs(model, unseen_x)
            for name, embedding in [("fc", features), ("backbone", backbone)]:
                for metric, value in retrieval(embedding, unseen_y).items():
                    result[f"{name}_{metric}"] = value
            result["task"] = "unseen"
            runs.append(result)

    seeds = cli.seeds(args)
    return comparison.conclude(
        args,
        "unseen_classes",
        f"Feature quality on unseen classes of {args.dataset}",
        runs,
        "task",
        METRICS,
        DIFFS,
        PLOTTED,
        f"- Budget per run: {args.epochs} epochs on {len(seen.x_train)} training images of "
        f"classes {args.seen}; batch {args.batch_size}; Adam 1e-3; seeds {seeds[0]} to "
        f"{seeds[-1]}; {determinism}\n"
        f"- Retrieval set: the {len(unseen_y)} test images of the other classes; each queries "
        "all the others by cosine similarity\n"
        f"- Model: the examples' CNN (dropout 0.5) ending in `WSoftmaxHead({seen.num_classes}"
        f", units={args.units or 'min_units(C)'})` (cosine logits, scale "
        f"{args.scale:g}); FC features are the head's, backbone features its input\n\n"
        "Mean ± std over seeds, in %; Δ is the paired difference to cross-entropy at the same "
        "seed with its 95% t interval, in points. Accuracy and ECE on the seen classes' test "
        "images.",
    )


if __name__ == "__main__":
    main()
