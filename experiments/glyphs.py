"""Real data with many classes: 124 characters in fonts never seen in training.

The task is `experiments.data.glyphs`: each of 124 characters (digits, Latin
letters, the Latin-1 Supplement's letters) drawn once in every installed
font that has them all (207 faces with `data.GLYPH_FONT_PACKAGES`), a class
per character and a sample per font face; the test set is every character
in the faces held out (30%). Each seed splits the faces and draws each
class's training faces anew, the same for every loss. The cells are the
training faces per class (``--per-class``; 0 keeps all of them), the model
is the studies' CNN ending in `WSoftmaxHead(124)` at its default width, and
every run sees ``--seen-per-class`` training samples per class, as in the
regime map.

    apt-get install -y <data.GLYPH_FONT_PACKAGES>
    python -m experiments.glyphs --out reports/glyphs --verbose 0
"""

import functools
import math

from experiments import cli, regime_map, runner

LOSSES = (
    "cross-entropy",
    "wsoftmax-0.2",
    "wsoftmax-0.5",
    "cosface",
    "arcface",
    "label-smoothing",
)


def flags(p):
    p.add_argument(
        "--per-class",
        type=int,
        nargs="+",
        default=[20, 50, 0],
        help="training faces per class (0: all the training faces)",
    )
    regime_map.seen_per_class_flag(p)


def plan(args, _):
    from experiments import data
    from keras_wsoftmax import recommended_units

    classes = len(data.GLYPH_CHARACTERS)
    all_faces = data.glyph_training_faces(len(data.font_faces()))  # the faces of per class 0
    cells = []
    for seed in cli.seeds(args):
        for per_class in args.per_class:
            task = functools.partial(data.glyphs, seed=seed, train_per_class=per_class or None)
            faces = per_class or all_faces  # the epochs follow the training faces per class
            epochs = args.epochs or math.ceil(args.seen_per_class / faces)
            name = f"{per_class} per class" if per_class else "all"
            cells.append(
                runner.Cell(
                    name,
                    seed,
                    task,
                    runner.settings(args, epochs=epochs),
                    model={"units": recommended_units(classes)},
                    record={"per_class": per_class or None, "epochs": epochs},
                )
            )
    return cells


def preamble(args, _, determinism):
    seeds = cli.seeds(args)
    return (
        f"- Budget per run: {args.seen_per_class} training samples seen per class (epochs = that "
        f"/ training faces per class); batch {args.batch_size}; Adam 1e-3; seeds {seeds[0]} to "
        f"{seeds[-1]} (each seed splits the faces and draws each class's training faces, the "
        f"same for every loss); {determinism}\n"
        "- Task: `experiments.data.glyphs(seed=seed, train_per_class=n)`: 124 characters drawn "
        "in every installed font face that has them all, 28 x 28 grey; a class per character, a "
        "sample per face; test: every character in the 30% of the faces held out\n"
        "- Model: the studies' CNN ending in `WSoftmaxHead(124, units=recommended_units(124))` "
        f"(cosine logits, scale {args.scale:g}), dropout 0.5 before the head\n\n"
        + regime_map.how_to_read("training faces per class")
    )


STUDY = runner.Study(
    name="glyphs",
    description=__doc__.splitlines()[0],
    group="cell",
    plan=plan,
    title=lambda args: "Characters in unseen fonts: 124 classes of real glyphs",
    preamble=preamble,
    metrics=regime_map.STUDY.metrics,
    diffs=regime_map.STUDY.diffs,
    plotted=regime_map.STUDY.diffs,
    epochs_help=regime_map.STUDY.epochs_help,
    losses=LOSSES,
    flags=flags,
    plan_flags=("per_class",),
    train_accuracy=True,
    data=False,
)


def main(argv=None):
    return runner.main(STUDY, argv)


if __name__ == "__main__":
    main()
