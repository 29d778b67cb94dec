"""The main job: a Keras CNN with W-Softmax against the same CNN with cross-entropy.

Trains the Keras MNIST example CNN, ending in `WSoftmaxHead(10)` at its
default width (`recommended_units(10)` = 160 FC units; the studies' CNN
uses the paper's `min_units` unless told), twice with the same seed and
budget: once with `WSoftmax(alpha)` and once with alpha = 0 (exactly sparse
softmax cross-entropy). Prints a table, saves the W-Softmax model as
`.keras`, and writes a markdown report and a PNG plot.

    python -m experiments.demo                 # Fashion-MNIST, offline
    KERAS_BACKEND=jax python -m experiments.demo --epochs 5 --alpha 0.3
"""

from experiments import cli, reporting

# What one run cannot say; the studies' figures are in docs/choosing.md, not here.
ONE_SEED = (
    "**One seed, one run each: not evidence of a difference.** What the studies measured "
    "on Fashion-MNIST with this CNN and width, over seeds with paired intervals, is in "
    "`docs/choosing.md`: no accuracy difference at this width, tighter classes."
)


def main(argv=None):
    p = cli.parser(__doc__.splitlines()[0], epochs=5, out="runs/demo")
    p.set_defaults(verbose=2)  # a line per epoch: fit for a log, as the committed report was made
    p.add_argument(
        "--alpha", type=float, help="W-Softmax's alpha (default: keras_wsoftmax.DEFAULT_ALPHA)"
    )
    args, determinism, dataset = cli.start(p, argv)
    # After parsing, so that --help loads no backend.
    from experiments.models import cnn
    from experiments.training import train
    from keras_wsoftmax import DEFAULT_ALPHA, WSoftmax, recommended_units

    if args.alpha is None:
        args.alpha = DEFAULT_ALPHA

    args.out.mkdir(parents=True, exist_ok=True)
    runs = {}
    wsoftmax_name = f"W-Softmax (alpha={args.alpha:g})"
    for name, alpha in [(wsoftmax_name, args.alpha), ("cross-entropy", 0.0)]:
        print(f"\n== {name} ==")
        # The width a user gets from WSoftmaxHead(C) by default.
        units = recommended_units(dataset.num_classes)
        model = cnn(dataset.input_shape, dataset.num_classes, args.seed, units=units)
        result, history = train(
            model,
            WSoftmax(alpha),
            dataset,
            args.epochs,
            args.batch_size,
            args.verbose,
            validate=True,
        )
        runs[name] = {**result, "history": history}
        if name == wsoftmax_name:
            model.save(args.out / "wsoftmax_model.keras")

    header = [
        "loss",
        "test accuracy",
        "test cross-entropy",
        "s / epoch",
        "head units",
        "head params",
    ]
    rows = [
        [
            name,
            f"{r['test_accuracy']:.4f}",
            f"{r['test_cross_entropy']:.4f}",
            f"{r['mean_epoch_seconds']:.1f}",
            r["head_units"],
            r["head_parameters"],
        ]
        for name, r in runs.items()
    ]
    table = reporting.markdown_table(header, rows)
    print("\n" + table)
    reporting.write_report(
        args.out,
        "demo",
        f"W-Softmax against cross-entropy on {args.dataset}",
        args,
        {"runs": runs},
        f"{reporting.budget_markdown(args.epochs, args.batch_size, dataset, [args.seed])}; "
        f"{determinism}\n\n"
        f"{table}\n\n"
        "Test cross-entropy is reported for both runs so that they compare on one scale.\n\n"
        f"{ONE_SEED}\n\n"
        "![Test accuracy per epoch](demo.png)\n",
        figures={"demo": plot(runs, args)},
    )
    print(f"saved the W-Softmax model as {args.out / 'wsoftmax_model.keras'}")
    return runs


def plot(runs, args):
    import keras
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, run in runs.items():
        accuracy = run["history"]["val_accuracy"]
        ax.plot(range(1, len(accuracy) + 1), [100 * a for a in accuracy], marker="o", label=name)
    ax.set_title(f"{args.dataset}: test accuracy per epoch ({keras.backend.backend()})")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy (%)")
    return reporting.finish_figure(fig, [ax], "")


if __name__ == "__main__":
    main()
