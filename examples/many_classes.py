"""Many classes: the classifier split by classes over devices with `keras.distribution` (JAX).

What it shows: at 10^5 classes and more, the classifier, its optimizer
state and the logits outgrow one device. `WSoftmaxHead.get_layout_map`
splits the classifier (and with it Adam's moments and the logits) by
classes over the mesh axis "model"; the losses reduce the split logits
with per-sample all-reduces, never gathering them. Here the devices are 4
virtual CPU devices (`XLA_FLAGS=--xla_force_host_platform_device_count=4`,
set below when unset); on a machine with accelerators the same code splits
over them.

A synthetic task: 100,000 classes, each a random direction in 32
dimensions, one noisy sample of each per epoch. The script trains 2 epochs
with `fit()` and prints, per device, the
bytes of the classifier shard and of its Adam moments against one device
holding them all, and the loss per epoch. With one sample per class and
epoch, the loss falls but the classes take tens of epochs to learn: the
point here is the layout, not the task.

Run it (JAX only: Keras 3's model parallelism runs on JAX):

    python examples/many_classes.py
    python examples/many_classes.py --classes 1000000 --devices 8

The first command took 167 s (2-core AMD EPYC, 2026-12-06, nothing else
running). A smoke run: `--classes 4000 --epochs 2`.
"""

import argparse
import importlib.util
import os

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--classes", type=int, default=100_000, help="default 100000")
p.add_argument("--devices", type=int, default=4, help="virtual CPU devices (default 4)")
p.add_argument("--epochs", type=int, default=2, help="default 2")
p.add_argument("--loss", choices=["wsoftmax", "cosface", "arcface"], default="wsoftmax")
args = p.parse_args()
# Before Keras is imported: the backend, and the virtual devices of a CPU-only machine.
os.environ.setdefault("KERAS_BACKEND", "jax")
if os.environ["KERAS_BACKEND"] != "jax":
    raise SystemExit("keras.distribution.ModelParallel runs on JAX: KERAS_BACKEND=jax")
if importlib.util.find_spec("jax") is None:
    raise SystemExit(
        'This example needs JAX: pip install "jax[cpu]" (or "keras-wsoftmax[examples]")'
    )
os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={args.devices}")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_wsoftmax  # noqa: E402
from keras_wsoftmax import WSoftmaxHead  # noqa: E402

devices = keras.distribution.list_devices()
mesh = keras.distribution.DeviceMesh((1, len(devices)), ["batch", "model"], devices)
head = WSoftmaxHead(args.classes, units=64, name="head")
keras.distribution.set_distribution(
    keras.distribution.ModelParallel(layout_map=head.get_layout_map(mesh), batch_dim_name="batch")
)

# Data: one sample per class and epoch, a noisy copy of the class's direction.
rng = np.random.default_rng(0)
directions = rng.normal(size=(args.classes, 32)).astype("float32")
labels = np.arange(args.classes, dtype="int32")


def samples():
    return directions + 0.3 * rng.normal(size=directions.shape).astype("float32")


keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"), head])
loss = {
    "wsoftmax": keras_wsoftmax.WSoftmax(0.2),
    # The cosine losses read the head's scale, which grows with the class count.
    "cosface": keras_wsoftmax.CosFace(scale=head.scale),
    "arcface": keras_wsoftmax.ArcFace(scale=head.scale),
}[args.loss]
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=loss)


class OneStepInFlight(keras.callbacks.Callback):
    """Waits for each training step to end before the next one starts.

    Virtual CPU devices share the machine's cores. With JAX's asynchronous
    dispatch, the next step's all-reduce can hold the threads that the
    current step still needs, and XLA aborts after 40 s ("Expected 4 threads
    to join the rendezvous"); seen on 2 cores from 100,000 classes. Real
    accelerators do not need it.
    """

    def on_train_batch_end(self, batch, logs=None):
        keras.ops.convert_to_numpy(logs["loss"])


losses = []
for _ in range(args.epochs):  # a fresh noisy sample of every class each epoch
    history = model.fit(
        samples(), labels, batch_size=256, epochs=1, verbose=0, callbacks=[OneStepInFlight()]
    )
    losses.append(history.history["loss"][0])

classifier = head.classifier.value
shard = classifier.sharding.shard_shape(classifier.shape)
moments = [v for v in model.optimizer.variables if v.shape == classifier.shape]
whole = 4 * int(np.prod(classifier.shape))
per_device = 4 * int(np.prod(shard))
print(
    f"{len(devices)} devices; classifier {tuple(classifier.shape)}, sharding {classifier.sharding.spec}"
)
print(
    f"classifier per device: {per_device / 2**20:.3f} MiB (one device would hold {whole / 2**20:.3f} MiB)"
)
print(
    f"Adam moments per device: {len(moments) * per_device / 2**20:.3f} MiB "
    f"(one device: {len(moments) * whole / 2**20:.3f} MiB)"
)
print(f"{args.loss}, {args.classes} classes: loss per epoch {[round(v, 4) for v in losses]}")
