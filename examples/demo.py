"""The main job: a Keras CNN with W-Softmax against the same CNN with cross-entropy.

Trains the Keras MNIST example CNN, ending in `WSoftmaxHead`, twice with the
same seed and budget: once with `WSoftmax(alpha)` and once with alpha = 0
(exactly sparse softmax cross-entropy). Prints a table, saves the W-Softmax
model as `.keras`, and writes a markdown report and a PNG plot.

    python examples/demo.py                 # Fashion-MNIST, offline
    KERAS_BACKEND=jax python examples/demo.py --epochs 5 --alpha 0.3
"""

import common
import data
import keras
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from keras_wsoftmax import DEFAULT_ALPHA, WSoftmax


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0], epochs=5, out="runs/demo")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    args = p.parse_args(argv)
    dataset = data.load_or_exit(args.dataset, args.data_dir, args.limit, args.test_limit)
    x_train, _, _, _, num_classes = dataset

    args.out.mkdir(parents=True, exist_ok=True)
    runs = {}
    wsoftmax_name = f"W-Softmax (alpha={args.alpha:g})"
    for name, alpha in [(wsoftmax_name, args.alpha), ("cross-entropy", 0.0)]:
        print(f"\n== {name} ==")
        model = common.cnn(x_train.shape[1:], num_classes, args.seed)
        runs[name] = common.train(model, WSoftmax(alpha), dataset, args, validate=True)
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
    table = common.markdown_table(header, rows)
    print("\n" + table)

    plot(runs, args, args.out / "demo.png")
    common.write_report(
        args.out,
        "demo",
        f"W-Softmax against cross-entropy on {args.dataset}",
        args,
        {"runs": runs},
        f"{common.budget_markdown(args, dataset, 1)}\n\n"
        f"{table}\n\n"
        "Test cross-entropy is reported for both runs so that they compare on one scale. "
        "One seed: the seed-to-seed spread is in the benchmark report.\n\n"
        "![Test accuracy per epoch](demo.png)\n",
    )
    print(f"\nwrote {args.out}/demo.md, demo.json, demo.png and wsoftmax_model.keras")
    return runs


def plot(runs, args, path):
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, run in runs.items():
        accuracy = run["history"]["val_accuracy"]
        ax.plot(range(1, len(accuracy) + 1), [100 * a for a in accuracy], marker="o", label=name)
    ax.set_title(f"{args.dataset}: test accuracy per epoch ({keras.backend.backend()})")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
