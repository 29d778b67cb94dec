"""The paper generation's protocol: SGD, weight decay and a step schedule, plain and cosine heads.

Margin-softmax papers of 2016-2018 trained plain FC logits ``W_j^T x`` with
SGD (momentum 0.9), weight decay and a step decay of the learning rate, to
convergence; every other study here trains the cosine head with Adam for a
few epochs. This one trains the examples' CNN on the full Fashion-MNIST
training set both ways, the plain head (the paper's) and the cosine head,
with SGD: the learning rate is cut tenfold at 50% and 75% of the steps.
On the cosine head it compares cross-entropy, W-Softmax at three alphas,
CosFace and ArcFace; on the plain head cross-entropy and W-Softmax (CosFace
and ArcFace are defined on cosines only). Every loss of one head and seed
starts from the same weights and sees the same data order. Measures: test
accuracy, the train-test gap, compactness, ECE; differences to
cross-entropy on the same head are paired by seed, with 95% t intervals.

The default budget, 30 epochs of batch 128 at learning rate 0.05, reaches
a plateau: on the plain head with cross-entropy (seed 0, 2026-12-02,
``--seeds 1 --modes plain --losses cross-entropy``) the training accuracy
logged by `fit` rose from 88.7% to 90.1% at the first cut (epoch 16) and to
91.3% after the second (epoch 23), and then moved by less than 0.2 points over
the last 8 epochs (test accuracy 90.67%).

Cost on a 2-core CPU with TensorFlow, nothing else running: the 10 runs of
a seed took 47 min (8.5 s an epoch) on one machine (2026-12-02), and on the
AMD EPYC machines of 2026-12-03 12-13 s an epoch with oneDNN on (about
7.5 min a run, 70 min a seed) and 19-22 s without it (about 11 min a run,
2 h a seed); 33-35 s with other work beside it. Split them with
``--resume`` (``--seeds 1``, then ``--seeds 2 --resume``, ...), which also
continues a stopped run from its ``protocol.partial.json``.

    python -m experiments.protocol --out reports/protocol --verbose 2
"""

import functools

from experiments import cli, runner

HEAD_MODES = {"cosine": True, "plain": False}
COSINE_ONLY = ("cosface", "arcface")
LOSSES = ("cross-entropy", "wsoftmax-0.1", "wsoftmax-0.2", "wsoftmax-0.5", "cosface", "arcface")


def flags(p):
    p.add_argument("--modes", nargs="+", choices=list(HEAD_MODES), default=list(HEAD_MODES))
    p.add_argument("--learning-rate", type=float, default=0.05, help="SGD's initial rate")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument(
        "--weight-decay", type=float, default=5e-4, help="decoupled weight decay (Keras's)"
    )
    p.add_argument("--units", type=int, help="FC width (default: the paper's min_units(C))")


def plan(args, dataset):
    from experiments import losses
    from experiments.training import step_decay_sgd

    optimizer = functools.partial(
        step_decay_sgd,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
    )
    settings = runner.settings(args, optimizer=optimizer)
    cells = []
    for mode in args.modes:
        keys = tuple(
            key
            for key in args.losses
            if HEAD_MODES[mode] or losses.parse(key)[0] not in COSINE_ONLY
        )
        for seed in cli.seeds(args):
            model = {"normalize": HEAD_MODES[mode], "units": args.units}
            cells.append(runner.Cell(mode, seed, dataset, settings, model=model, losses=keys))
    return cells


def preamble(args, dataset, determinism):
    seeds = cli.seeds(args)
    return (
        f"- Budget per run: {args.epochs} epochs, batch {args.batch_size}, "
        f"{len(dataset.x_train)} training and {len(dataset.x_test)} test samples; SGD, "
        f"momentum {args.momentum:g}, learning rate {args.learning_rate:g} cut tenfold at 50% "
        f"and 75% of the steps, decoupled weight decay {args.weight_decay:g} (Keras's: each "
        f"step w -= rate x decay x w, every variable); seeds {seeds[0]} to {seeds[-1]}; "
        f"{determinism}\n"
        "- Model: the examples' CNN (dropout 0.5) ending in "
        f"`WSoftmaxHead(C, units={args.units or 'min_units(C)'})`: plain logits "
        f"(`normalize=False`, the paper's) or cosine logits (scale {args.scale:g}); CosFace "
        "and ArcFace on the cosine head only\n\n"
        "Mean ± std over seeds; Δ is the paired difference to cross-entropy on the same head "
        "at the same seed, with its 95% t interval, in points (compactness in degrees). "
        "Gap = training accuracy - test accuracy. ECE with 15 bins."
    )


STUDY = runner.Study(
    name="protocol",
    description=__doc__.splitlines()[0],
    group="mode",
    plan=plan,
    title=lambda args: f"The paper generation's protocol on {args.dataset}: SGD to convergence",
    preamble=preamble,
    metrics=("test_accuracy", "train_accuracy", "gap", "compactness_deg", "ece", "nll"),
    diffs=("test_accuracy", "gap", "compactness_deg", "ece"),
    plotted=("test_accuracy", "gap", "compactness_deg", "ece"),
    epochs=30,
    losses=LOSSES,
    flags=flags,
    plan_flags=("modes",),
    train_accuracy=True,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
