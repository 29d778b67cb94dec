"""Semantic segmentation: a per-pixel margin loss with void pixels and channels-first logits.

What it shows: the losses take logits of any rank, so a segmentation net is
trained per pixel as a classifier is per image. A small encoder-decoder
labels synthetic 32 x 32 images (background, rectangles, discs); the pixels
on each shape's outline are "void" (label 255): `ignore_class=255` gives them
loss 0 and gradient 0, and leaves them out of the average and of the IoU.
The logits are channels-first, ``(N, C, H, W)``, as a PyTorch-style model
gives them, and the loss reads the classes from `axis=1`. `WSoftmaxHead` is
the per-pixel classifier (a 1 x 1 convolution with cosine logits).

The same net is trained from the same initial weights with the chosen
margin loss and with cross-entropy (same `ignore_class` and `axis`), and
each prints its per-class IoU and mean IoU on test images. Cross-entropy is
`WSoftmax(0.0)`, exactly Keras's sparse cross-entropy: Keras 3.15's own
`SparseCategoricalCrossentropy(axis=1)` raises on JAX and TensorFlow.

Run it (any backend; the images are made here, offline):

    KERAS_BACKEND=tensorflow python examples/segmentation.py
    KERAS_BACKEND=jax python examples/segmentation.py --loss arcface --epochs 10

The first command took 26 s (2-core AMD EPYC, 2026-12-06, nothing else running). Backends: TensorFlow, JAX, PyTorch. A
smoke run: `--epochs 1 --images 128`.
"""

import argparse

import keras
import numpy as np

import keras_wsoftmax
from keras_wsoftmax import WSoftmaxHead

VOID = 255
CLASSES = ["background", "rectangle", "disc"]

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--loss", choices=["wsoftmax", "cosface", "arcface"], default="wsoftmax")
p.add_argument("--epochs", type=int, default=8, help="default 8")
p.add_argument("--images", type=int, default=1024, help="training images (default 1024)")
args = p.parse_args()


def make_images(count, seed):
    """Noisy images with a dim rectangle and a bright disc each; outlines labelled void."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:32, :32]
    images = rng.normal(0.0, 0.35, (count, 32, 32, 1)).astype("float32")
    labels = np.zeros((count, 32, 32), "int32")
    for i in range(count):
        top, left = rng.integers(2, 18, 2)
        height, width = rng.integers(6, 13, 2)
        rectangle = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
        cy, cx, radius = rng.integers(8, 24), rng.integers(8, 24), rng.integers(4, 8)
        distance = np.hypot(rows - cy, cols - cx)
        disc = distance < radius
        images[i, rectangle, 0] += 0.8  # a dim rectangle
        images[i, disc, 0] += 1.6  # a bright disc, drawn over it where they overlap
        labels[i][rectangle] = 1
        labels[i][disc] = 2
        # Outlines: void, as annotators leave boundaries.
        outline = np.abs(distance - radius) < 0.7
        outline |= rectangle & ~(
            (rows > top) & (rows < top + height - 1) & (cols > left) & (cols < left + width - 1)
        )
        labels[i][outline] = VOID
    return images, labels


x_train, y_train = make_images(args.images, seed=0)
x_test, y_test = make_images(256, seed=1)


def make_model():
    """Encoder-decoder to per-pixel cosine logits, then channels first: (N, 3, 32, 32)."""
    keras.utils.set_random_seed(0)  # the same initial weights for both losses
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    skip = x
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.UpSampling2D()(x)
    x = keras.layers.Concatenate()([x, skip])
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    logits = WSoftmaxHead(len(CLASSES), units=32)(x)  # per pixel: (N, 32, 32, 3)
    logits = keras.layers.Permute((3, 1, 2))(logits)  # channels first: (N, 3, 32, 32)
    return keras.Model(inputs, logits)


def iou_per_class(model):
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)  # classes on axis 1
    kept = y_test != VOID
    ious = []
    for c in range(len(CLASSES)):
        truth, guess = (y_test == c) & kept, (predicted == c) & kept
        ious.append((truth & guess).sum() / max((truth | guess).sum(), 1))
    return np.array(ious)


margin_loss = {
    "wsoftmax": keras_wsoftmax.WSoftmax(0.2, ignore_class=VOID, axis=1),
    "cosface": keras_wsoftmax.CosFace(ignore_class=VOID, axis=1),
    "arcface": keras_wsoftmax.ArcFace(ignore_class=VOID, axis=1),
}[args.loss]
cross_entropy = keras_wsoftmax.WSoftmax(0.0, ignore_class=VOID, axis=1)

print(f"backend {keras.backend.backend()}; {(y_train == VOID).mean():.1%} of the pixels are void")
for name, loss in [(args.loss, margin_loss), ("cross-entropy", cross_entropy)]:
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss)
    history = model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=0)
    ious = iou_per_class(model)
    cells = ", ".join(f"{c} {iou:.3f}" for c, iou in zip(CLASSES, ious, strict=True))
    losses = history.history["loss"]
    print(
        f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f}; IoU {cells}; mean IoU {ious.mean():.3f}"
    )
