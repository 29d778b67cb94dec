"""Retrieval and verification of classes never seen in training, as face and product search evaluate.

What it shows: how to take features out of a model trained with a margin
head, and how to score them. A small CNN with `WSoftmaxHead` is trained on
Fashion-MNIST's first five classes only (T-shirt, trouser, pullover, dress,
coat); the test images of the other five (sandal, shirt, sneaker, bag, ankle
boot) are then embedded, with the backbone's features (the head's input)
and with the head's FC features (`head.features`), and scored by cosine
similarity:

- Recall@1: how often an image's nearest other image is of its class;
- verification: the true accept rate (TAR) of same-class pairs at a fixed
  false accept rate (FAR) of different-class pairs, and the ROC curve.

The same model is trained from the same initial weights with the chosen
margin loss and with cross-entropy. Our own study of this task
(`docs/choosing.md`) found no difference in retrieval between the losses,
and far better retrieval from the backbone's features than from the
head's: this script lets you check that on your machine.

Keras downloads Fashion-MNIST once; offline, link the Debian package's
files into Keras's cache first:

    apt-get install -y dataset-fashion-mnist && mkdir -p ~/.keras/datasets
    ln -s /usr/share/datasets/fashion-mnist ~/.keras/datasets/

Run it:

    KERAS_BACKEND=tensorflow python examples/retrieval.py
    KERAS_BACKEND=jax python examples/retrieval.py --loss arcface --epochs 5

It prints Recall@1 and TAR at FAR 1e-2 and 1e-3 for each loss and feature,
and writes `retrieval_roc.png` (the ROC curves of the backbone's features,
log-scaled FAR) where matplotlib is installed. The first command took 36 s
(2-core AMD EPYC, 2026-12-06, nothing else running). Backends: TensorFlow, JAX, PyTorch. A smoke run:
`--epochs 1 --limit 2000`.
"""

import argparse
from pathlib import Path

import keras
import numpy as np

import keras_wsoftmax
from keras_wsoftmax import WSoftmaxHead

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--loss", choices=["wsoftmax", "cosface", "arcface"], default="wsoftmax")
p.add_argument("--epochs", type=int, default=3, help="default 3")
p.add_argument("--limit", type=int, default=None, help="use the first LIMIT training images")
p.add_argument("--out", default=".", help="folder for retrieval_roc.png (default: here)")
args = p.parse_args()


(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train = x_train[: args.limit, ..., None].astype("float32") / 255.0
y_train = y_train[: args.limit].astype("int32")
x_test = x_test[..., None].astype("float32") / 255.0
seen = y_train < 5
x_seen, y_seen = x_train[seen], y_train[seen]
unseen = y_test >= 5
x_unseen, y_unseen = x_test[unseen][:2000], y_test[unseen][:2000]


def make_model():
    keras.utils.set_random_seed(0)  # the same initial weights for every loss
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu", name="embedding"),
            WSoftmaxHead(5, name="head"),  # recommended_units(5) = 80 FC units
        ]
    )


def scores(features, labels):
    """Recall@1 and the verification curve of cosine similarities."""
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)  # an image is not its own neighbour
    recall = float(np.mean(labels[similarity.argmax(axis=1)] == labels))
    pairs = np.triu_indices(len(labels), k=1)
    same = labels[pairs[0]] == labels[pairs[1]]
    values = similarity[pairs]
    impostors = np.sort(values[~same])[::-1]
    far = np.logspace(-4, 0, 200)
    thresholds = impostors[np.minimum((far * len(impostors)).astype(int), len(impostors) - 1)]
    tar = np.array([np.mean(values[same] > t) for t in thresholds])
    return recall, far, tar


margin_loss = {
    "wsoftmax": keras_wsoftmax.WSoftmax(0.2),
    "cosface": keras_wsoftmax.CosFace(),
    "arcface": keras_wsoftmax.ArcFace(),
}[args.loss]
cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

print(f"backend {keras.backend.backend()}: {len(x_seen)} training images of 5 classes")
print("loss | features | Recall@1 | TAR @ FAR 1e-2 | TAR @ FAR 1e-3")
curves = {}
for name, loss in [(args.loss, margin_loss), ("cross-entropy", cross_entropy)]:
    model = make_model()
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    history = model.fit(x_seen, y_seen, batch_size=128, epochs=args.epochs, verbose=0)
    head = model.get_layer("head")
    # The backbone: everything up to the head's input.
    backbone = keras.Model(model.inputs, head.input)
    embedding = backbone.predict(x_unseen, verbose=0)
    features = {
        "backbone": embedding,
        "head FC": keras.ops.convert_to_numpy(head.features(embedding)),
    }
    for kind, values in features.items():
        recall, far, tar = scores(values, y_unseen)
        at = {f: float(np.interp(np.log10(f), np.log10(far), tar)) for f in (1e-2, 1e-3)}
        print(f"{name} | {kind} | {recall:.3f} | {at[1e-2]:.3f} | {at[1e-3]:.3f}")
        if kind == "backbone":
            curves[name] = (far, tar)
    print(
        f"  ({name}: training loss {history.history['loss'][0]:.3f} -> {history.history['loss'][-1]:.3f})"
    )

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no figure")
else:
    fig, ax = plt.subplots(figsize=(5, 4))
    for name, (far, tar) in curves.items():
        ax.plot(far, tar, label=name)
    ax.set(xscale="log", xlabel="false accept rate", ylabel="true accept rate")
    ax.set_title("Verification of 5 unseen classes (backbone features)")
    ax.grid(alpha=0.3)
    ax.legend()
    path = Path(args.out) / "retrieval_roc.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print(f"wrote {path}")
