"""Transfer learning with a margin head: the keras-io recipe, with the margin warmed up.

What it shows: the recipe of Keras's transfer-learning guide with
`WSoftmaxHead` as the new head.

1. A pretrained backbone (MobileNetV3Small, `include_top=False`), frozen.
2. The new head trained alone, with `WSoftmax` whose alpha an
   `AlphaScheduler` raises from 0 to 0.2 over the first 3 epochs, a warm-up
   as for a learning rate while the new classifier is random (whether it
   helps is not measured here).
3. The backbone unfrozen, except its BatchNorm layers, and the whole model
   fine-tuned at a low learning rate (1e-5), recompiled, alpha kept at 0.2.
   The guide keeps BatchNorm in inference mode by calling the backbone with
   `training=False`; in Keras 3 (3.15 here) `fit()` overrides that argument
   of a nested model (keras-team/keras#20285), its BatchNorm layers then
   re-estimate their statistics from the target batches, and, measured
   here (TensorFlow, the defaults), the target test accuracy fell from
   0.65 to 0.53 during fine-tuning at 1e-5 (to 0.36 at 1e-6). A BatchNorm layer with
   `trainable = False` runs in inference mode, and with it fine-tuning
   raised the accuracy to 0.74 (TensorFlow, the defaults, both losses).

The target task is Fashion-MNIST's last five classes (sandal, shirt,
sneaker, bag, ankle boot) with few labels (`--shots` per class). Where the
backbone's weights come from:

- `--weights fashion-source` (the default, offline): there are no ImageNet
  weights offline, and a frozen *random* MobileNetV3 in inference mode
  outputs near-zero features (its BatchNorm statistics are those of
  initialization), on which no head learns. So the script first pretrains
  the backbone itself, with cross-entropy, on the first five classes (the
  source task), and transfers that. Expect the frozen phase to reach well
  below what ImageNet features give, on few labels.
- `--weights imagenet`: Keras downloads MobileNetV3Small's ImageNet weights
  (network needed; not run here, offline); use `--size 96` or more,
  ImageNet's features want larger images than 32 x 32.

The same pretrained weights and head initialization are trained twice, with
the warmed-up W-Softmax and with cross-entropy, and the script prints the
target-task test accuracy after each phase. Our studies (`docs/choosing.md`)
found no accuracy gain from W-Softmax on Fashion-MNIST; few labels are
untested there.

Keras downloads Fashion-MNIST once; offline, link the Debian package's
files into Keras's cache first:

    apt-get install -y dataset-fashion-mnist && mkdir -p ~/.keras/datasets
    ln -s /usr/share/datasets/fashion-mnist ~/.keras/datasets/

Run it:

    KERAS_BACKEND=tensorflow python examples/transfer_learning.py
    KERAS_BACKEND=jax python examples/transfer_learning.py --weights imagenet --size 96

The first command took 81 s (2-core AMD EPYC, 2026-12-06, nothing else running). Backends:
TensorFlow, JAX, PyTorch. A smoke run:
`--limit 640 --shots 32 --head-epochs 2 --fine-tune-epochs 1 --test-limit 480`
(whole batches: no recompilation for a smaller last batch).
"""

import argparse

import keras
import numpy as np

from keras_wsoftmax import AlphaScheduler, WSoftmax, WSoftmaxHead

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--weights", choices=["fashion-source", "imagenet"], default="fashion-source")
p.add_argument("--size", type=int, default=32, help="image side fed to the backbone (default 32)")
p.add_argument("--limit", type=int, default=10_000, help="source-task images (default 10000)")
p.add_argument(
    "--shots", type=int, default=100, help="labelled images per target class (default 100)"
)
p.add_argument("--test-limit", type=int, help="target-task test images (default: all 5000)")
p.add_argument("--head-epochs", type=int, default=10, help="default 10")
p.add_argument("--fine-tune-epochs", type=int, default=5, help="default 5")
p.add_argument("--fine-tune-lr", type=float, default=1e-5, help="default 1e-5")
args = p.parse_args()


(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train, x_test = x_train[..., None].astype("float32"), x_test[..., None].astype("float32")
source = y_train < 5
x_source, y_source = x_train[source][: args.limit], y_train[source][: args.limit]
# The target task: classes 5..9 as 0..4, the first `shots` images of each.
target = np.concatenate([np.flatnonzero(y_train == c)[: args.shots] for c in range(5, 10)])
x_target, y_target = x_train[target], y_train[target] - 5
x_target_test, y_target_test = x_test[y_test >= 5], y_test[y_test >= 5] - 5
x_target_test, y_target_test = x_target_test[: args.test_limit], y_target_test[: args.test_limit]


def backbone_on_fashion(weights):
    """MobileNetV3Small on 28 x 28 grey pixels in [0, 255]: resized, grey to RGB."""
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(args.size, args.size, 3), include_top=False, weights=weights, pooling="avg"
    )
    # Keras's BatchNorm momentum 0.999 is made for long ImageNet runs; after
    # a few hundred steps from scratch the statistics would still be their
    # initial values. 0.9 follows the source data (pretraining only).
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Resizing(args.size, args.size)(inputs)
    x = keras.layers.Concatenate()([x, x, x])
    return inputs, x, backbone


keras.utils.set_random_seed(0)
if args.weights == "imagenet":
    _, _, pretrained = backbone_on_fashion("imagenet")
else:
    inputs, x, pretrained = backbone_on_fashion(None)
    source_model = keras.Model(inputs, keras.layers.Dense(5)(pretrained(x)))
    source_model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = source_model.fit(x_source, y_source, batch_size=128, epochs=2, verbose=0)
    print(
        f"pretrained on the source task ({len(x_source)} images of classes 0-4): "
        f"training accuracy {history.history['accuracy'][-1]:.3f}"
    )
pretrained_weights = pretrained.get_weights()


def transfer(loss, callbacks):
    """The keras-io recipe from the pretrained weights; target test accuracy after each phase."""
    keras.utils.set_random_seed(1)  # the same head initialization for every loss
    inputs, x, backbone = backbone_on_fashion(None)
    backbone.set_weights(pretrained_weights)
    backbone.trainable = False
    outputs = WSoftmaxHead(5, name="head")(backbone(x))
    model = keras.Model(inputs, outputs)

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=["accuracy"])
    history = model.fit(
        x_target, y_target, batch_size=32, epochs=args.head_epochs, callbacks=callbacks, verbose=0
    )
    head_only = model.evaluate(x_target_test, y_target_test, verbose=0)[1]
    head_train = history.history["accuracy"][-1]

    backbone.trainable = True
    for layer in backbone.layers:  # frozen BatchNorm layers run in inference mode
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    # Compile again for the change to take effect.
    model.compile(
        optimizer=keras.optimizers.Adam(args.fine_tune_lr), loss=loss, metrics=["accuracy"]
    )
    history = model.fit(x_target, y_target, batch_size=32, epochs=args.fine_tune_epochs, verbose=0)
    fine_tuned = model.evaluate(x_target_test, y_target_test, verbose=0)[1]
    return head_only, head_train, fine_tuned, history.history["accuracy"][-1]


print(f"backend {keras.backend.backend()}: target task {len(x_target)} images of classes 5-9")
warm_up = AlphaScheduler(lambda epoch, alpha: 0.2 * min(1.0, epoch / 3), verbose=1)
runs = {
    "wsoftmax (alpha 0 -> 0.2)": transfer(WSoftmax(0.0), [warm_up]),
    "cross-entropy": transfer(keras.losses.SparseCategoricalCrossentropy(from_logits=True), []),
}
print("loss | head trained: test accuracy (training) | fine-tuned: test accuracy (training)")
for name, (head_only, head_train, fine_tuned, fine_train) in runs.items():
    print(f"{name} | {head_only:.4f} ({head_train:.4f}) | {fine_tuned:.4f} ({fine_train:.4f})")
