"""Trains a class-sharded WSoftmaxHead under keras.distribution.ModelParallel, or on one device.

Usage: KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=4 \\
    python -m tests.entry_points.class_parallel_fit MESH HEAD[,HEAD...] OUT_DIR [--load MESH | --gather]

MESH is ``one`` (no distribution, one device) or ``BxM`` (a batch x model
mesh of the 4 CPU devices, the classifier split over M); HEAD is ``cosine``
or ``plain``, trained with W-Softmax, or ``cosine-cosface`` /
``cosine-arcface`` for the package's other losses; ``sub-`` before any of
these gives the head SUBCENTERS class weights per class; ``fused-`` before
all that trains the head's FC features with its fused loss
(`WSoftmaxHead.fused_loss`, chunks of CHUNK classes) instead, and
``sampled-`` with its fused loss keeping SAMPLE_RATE of the classes a step
(Partial FC, each device sampling its own); several
HEADs, comma-separated, train one after another in this one process. With
``--load MESH`` (only with ``one``), also loads each head's model saved by
the MESH run on one device and predicts. ``--gather`` replicates the logits before the loss
in the compiled step, as a loss that gathered them would, and makes a
fused loss chunk all the classes as one block, as a loss blind to the split
would: the controls that show the collectives check can fail. Writes OUT_DIR/MESH-HEAD.json (epoch losses, the
classifier's sharding, the collectives of the compiled training step) and
.npz (trained weights, predictions, predictions of the loaded model), and
the trained model as MESH-HEAD.keras.
"""

import json
import re
import sys
from pathlib import Path

import jax
import keras
import numpy as np

from experiments.class_parallel import step_function
from keras_wsoftmax import ArcFace, CosFace, WSoftmax, WSoftmaxHead, _fused

NUM_CLASSES, UNITS, FEATURES, SAMPLES, BATCH = 4000, 24, 16, 64, 16
SUBCENTERS = 3
# Divides none of the class blocks (4000, 2000 and 1000 classes): a rest chunk.
CHUNK = 384
# 1000 of 4000 classes a step; 250 of a device's 1000 on the 1x4 mesh: more than a batch.
SAMPLE_RATE = 0.25
IGNORED = -1
COLLECTIVES = r"all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter"
# Each loss for a head: the cosine losses take its scale.
LOSSES = {"wsoftmax": lambda head: WSoftmax(0.2, ignore_class=IGNORED)}
LOSSES |= {"cosface": lambda head: CosFace(scale=head.scale, ignore_class=IGNORED)}
LOSSES |= {"arcface": lambda head: ArcFace(scale=head.scale, ignore_class=IGNORED)}


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype(np.float32)
    y = rng.integers(0, NUM_CLASSES, SAMPLES).astype(np.int32)
    y[::7] = IGNORED
    weights = rng.uniform(0.5, 2.0, SAMPLES).astype(np.float32)
    return x, y, weights


def model_with(head):
    """The model, with the same starting weights on any mesh.

    Keras's initializers draw differently under a distribution than on one
    device, so the weights are set from a NumPy draw instead.
    """
    model = keras.Sequential(
        [keras.Input((FEATURES,)), keras.layers.Dense(32, activation="relu"), head]
    )
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.weights])
    return model


def step_collectives(model, loss, x, y, gather=False):
    """Collectives of the compiled step (forward, loss, backward, update), with result shapes.

    The step is Keras's JAX train step written with public API
    (`stateless_call`, `jax.value_and_grad`, `stateless_apply`), lowered
    with the distribution's layouts on the data and the weights.
    """
    optimizer = model.optimizer
    distribution = keras.distribution.distribution()
    replicated = jax.sharding.NamedSharding(
        distribution.device_mesh.backend_mesh, jax.sharding.PartitionSpec()
    )
    x, y = (jax.device_put(a, distribution.get_data_layout(a.shape).backend_layout) for a in (x, y))
    on_logits = (lambda z: jax.lax.with_sharding_constraint(z, replicated)) if gather else None
    step = step_function(model, optimizer, loss, on_logits)
    compiled = (
        jax.jit(step)
        .lower(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in optimizer.variables],
            x,
            y,
        )
        .compile()
    )
    found = []
    for line in compiled.as_text().splitlines():
        match = re.search(rf"= (.*?) ({COLLECTIVES})\(", line)
        if match:
            dims = [
                int(d)
                for d in re.findall(r"\d+", " ".join(re.findall(r"\[([\d,]*)\]", match.group(1))))
            ]
            found.append({"op": match.group(2), "result": match.group(1)[:200], "dims": dims})
    return found


def main(mesh_name, head_names, out, *option):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for head_name in head_names.split(","):
        keras.backend.clear_session()
        keras.distribution.set_distribution(None)
        train(mesh_name, head_name, out, *option)


def train(mesh_name, head_name, out, option=None, load_from=None):
    load = out / f"{load_from}-{head_name}.keras" if option == "--load" else None
    sampled = head_name.startswith("sampled-")
    fused = sampled or head_name.startswith("fused-")
    rest = head_name.removeprefix("sampled-").removeprefix("fused-")
    subcenters = SUBCENTERS if rest.startswith("sub-") else 1
    head_mode, _, loss_name = rest.removeprefix("sub-").partition("-")
    head = WSoftmaxHead(
        NUM_CLASSES,
        units=UNITS,
        normalize=head_mode == "cosine",
        output_mode="features" if fused else "logits",
        subcenters=subcenters,
        name="head",
    )
    if mesh_name != "one":
        shape = tuple(int(v) for v in mesh_name.split("x"))
        mesh = keras.distribution.DeviceMesh(shape, ["batch", "model"], jax.devices())
        keras.distribution.set_distribution(
            keras.distribution.ModelParallel(
                layout_map=head.get_layout_map(mesh), batch_dim_name="batch"
            )
        )
    model = model_with(head)
    loss = LOSSES[loss_name or "wsoftmax"](head)
    if fused:
        loss = head.fused_loss(
            loss, chunk_size=CHUNK, sample_rate=SAMPLE_RATE if sampled else 1.0, seed=0
        )
        if option == "--gather":
            _fused.class_split = lambda variable: (1, lambda x: x)
    # Adam's epsilon at 1e-3, not 1e-7: a weight whose gradient is float32
    # rounding noise (a class no sample of the batch is near) moves by about
    # lr * g / epsilon, not by lr in the noise's sign, so the comparison with
    # one device tests the arithmetic, not Adam's amplification of rounding.
    model.compile(keras.optimizers.Adam(1e-2, epsilon=1e-3), loss=loss)
    x, y, weights = data()
    history = model.fit(
        x, y, sample_weight=weights, epochs=3, batch_size=BATCH, shuffle=False, verbose=0
    )
    name = f"{mesh_name}-{head_name}"
    info = {
        "losses": [float(v) for v in history.history["loss"]],
        "classifier_sharding": str(getattr(head.classifier.value.sharding, "spec", None)),
        "output_sharding": str(jax.jit(lambda v: model(v))(x).sharding.spec)
        if mesh_name != "one"
        else None,
        "collectives": (
            step_collectives(model, loss, x, y, gather=option == "--gather")
            if mesh_name != "one"
            else []
        ),
    }
    arrays = {f"weight_{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
    arrays["predictions"] = model.predict(x, verbose=0)
    if load:
        arrays["loaded_predictions"] = keras.saving.load_model(load).predict(x, verbose=0)
    model.save(out / f"{name}.keras")
    (out / f"{name}.json").write_text(json.dumps(info))
    np.savez(out / f"{name}.npz", **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
