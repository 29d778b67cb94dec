"""What the sized head saves: WSoftmaxHead at min_units against wider heads.

Trains the examples' CNN on Fashion-MNIST with `WSoftmax` and
`WSoftmaxHead(C, units=width)` for each width and seed, and reports the head's
parameters and FLOPs per example, the epoch time and the test accuracy, with
the savings at `min_units` against 1024 units.

    python benchmarks/head_cost.py --out reports/head_cost
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import common  # noqa: E402
import data  # noqa: E402
import unit_sweep  # noqa: E402

from keras_wsoftmax import DEFAULT_ALPHA, WSoftmax, min_units  # noqa: E402

REFERENCE_UNITS = 1024


def head_flops(input_dim, units, num_classes, normalize=True):
    """Floating-point operations of one example through the head, counted.

    FC layer ``2 * input_dim * units`` plus ``2 * units`` (bias, activation),
    classifier ``2 * units * num_classes``; for cosine logits, normalizing
    the feature (``3 * units``) and scaling the ``num_classes`` logits. The
    class weights' norms are paid once per batch, not per example, and are
    left out.
    """
    fc = 2 * input_dim * units + 2 * units
    classifier = 2 * units * num_classes
    norm = 3 * units + num_classes if normalize else 0
    return fc + classifier + norm


def main(argv=None):
    p = common.parser(__doc__.splitlines()[0], epochs=2, out="runs/head_cost")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    p.add_argument("--widths", type=int, nargs="+", help="default: min_units 64 256 1024 4096")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, from --seed on")
    args = p.parse_args(argv)
    dataset = data.load_or_exit(args.dataset, args.data_dir, args.limit, args.test_limit)
    x_train, _, _, _, num_classes = dataset
    smallest = min_units(num_classes, "relu")
    widths = args.widths or sorted({smallest, 64, 256, REFERENCE_UNITS, 4096})

    results = []
    # Seed-major order, so that a load change touches every width alike.
    plan = [(units, seed) for seed in range(args.seed, args.seed + args.seeds) for units in widths]
    for i, (units, seed) in enumerate(plan, 1):
        print(f"\n[{i}/{len(plan)}] {units} units, seed {seed}", flush=True)
        model = common.cnn(x_train.shape[1:], num_classes, seed, units=units)
        result = common.train(model, WSoftmax(args.alpha), dataset, args)
        del result["history"]
        input_dim = model.layers[-1].input.shape[-1]
        result.update(
            {
                "alpha": args.alpha,
                "units": units,
                "seed": seed,
                "model_parameters": model.count_params(),
                "head_flops_per_example": head_flops(input_dim, units, num_classes),
            }
        )
        results.append(result)

    summary = unit_sweep.summarize(results)
    flops = {r["units"]: r["head_flops_per_example"] for r in results}
    for row in summary:
        row["head_flops_per_example"] = flops[row["units"]]
    header = ["FC units", "head params", "head MFLOPs / example", "s / epoch", "test accuracy (%)"]
    rows = [
        [
            f"**{r['units']}**" if r["units"] == smallest else r["units"],
            f"{r['head_parameters']:,}",
            f"{r['head_flops_per_example'] / 1e6:.3f}",
            common.mean_std_cell(r, "epoch_seconds"),
            common.mean_std_cell(r, "test_accuracy", 100, 2),
        ]
        for r in summary
    ]
    table = common.markdown_table(header, rows)
    found = savings(summary, smallest)
    print("\n" + table + "\n\n" + found)
    args.out.mkdir(parents=True, exist_ok=True)
    common.write_report(
        args.out,
        "head_cost",
        f"Head cost on {args.dataset}: min_units against wider heads",
        args,
        {"summary": summary, "runs": results},
        f"{common.budget_markdown(args, dataset, args.seeds)}\n"
        f"- Model: the examples' CNN ending in `WSoftmaxHead(C, units=width)`, loss "
        f"`WSoftmax({args.alpha:g})`\n\n"
        f"`min_units({num_classes}, 'relu') = {smallest}` (bold). FLOPs are counted "
        "(`head_flops` in the script), not measured; epoch times are wall-clock on this "
        "machine, comparable within this run only.\n\n"
        f"{table}\n\n## Savings\n\n{found}\n",
    )
    print(f"\nwrote {args.out}/head_cost.md and head_cost.json")
    return summary


def savings(summary, smallest):
    """The min_units row against the REFERENCE_UNITS row, in words."""
    by_units = {r["units"]: r for r in summary}
    if smallest not in by_units or REFERENCE_UNITS not in by_units:
        return f"(needs both {smallest} and {REFERENCE_UNITS} units in --widths)"
    small, wide = by_units[smallest], by_units[REFERENCE_UNITS]
    spread = 100 * max(small["test_accuracy_std"], wide["test_accuracy_std"])
    return (
        f"At min_units = {smallest} against {REFERENCE_UNITS} units: "
        f"{wide['head_parameters'] / small['head_parameters']:.0f}x fewer head parameters "
        f"({small['head_parameters']:,} vs {wide['head_parameters']:,}; whole model "
        f"{small['model_parameters']:,} vs {wide['model_parameters']:,}), "
        f"{wide['head_flops_per_example'] / small['head_flops_per_example']:.0f}x fewer head "
        f"FLOPs per example, epoch time {small['epoch_seconds']:.1f} s vs "
        f"{wide['epoch_seconds']:.1f} s ({small['epoch_seconds'] / wide['epoch_seconds']:.2f}x); "
        f"accuracy {100 * (small['test_accuracy'] - wide['test_accuracy']):+.2f} points "
        f"(seed spread up to {spread:.2f})."
    )


if __name__ == "__main__":
    main()
