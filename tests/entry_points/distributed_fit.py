"""Trains the distribution tests' model on one device or data-parallel on two CPU devices.

Usage: KERAS_BACKEND=... python -m tests.entry_points.distributed_fit MODE OUT_DIR, MODE one of
  jax_one, jax_data_parallel    (JAX; XLA_FLAGS=--xla_force_host_platform_device_count=2)
  tf_one, tf_mirrored           (TensorFlow; splits the CPU into two logical devices)
Writes OUT_DIR/MODE.json (epoch losses, how the batch was split) and
OUT_DIR/MODE.npz (the trained weights).
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np

from keras_wsoftmax import WSoftmax
from tests.helpers.blobs import NUM_FEATURES, blob_model, blobs

GLOBAL_BATCH = 16


def new_model():
    model = blob_model()
    model.compile(keras.optimizers.SGD(0.1), loss=WSoftmax(0.3))
    return model


def main(mode, out):
    out = Path(out)
    info = {"mode": mode}
    if mode == "jax_data_parallel":
        import jax

        distribution = keras.distribution.DataParallel(devices=jax.devices())
        keras.distribution.set_distribution(distribution)
        layout = distribution.get_data_layout((GLOBAL_BATCH, NUM_FEATURES))
        info["devices"] = len(jax.devices())
        info["batch_axes"] = list(layout.axes)
        info["mesh"] = dict(
            zip(layout.device_mesh.axis_names, layout.device_mesh.shape, strict=True)
        )
    if mode.startswith("tf_"):
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    if mode == "tf_mirrored":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        info["devices"] = strategy.num_replicas_in_sync
        with strategy.scope():
            model = new_model()
    else:
        model = new_model()
    x, y = blobs(64, seed=3)
    history = model.fit(x, y, epochs=3, batch_size=GLOBAL_BATCH, shuffle=False, verbose=0)
    info["losses"] = [float(v) for v in history.history["loss"]]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{mode}.json").write_text(json.dumps(info))
    np.savez(out / f"{mode}.npz", *[np.asarray(w) for w in model.get_weights()])


if __name__ == "__main__":
    main(*sys.argv[1:])
