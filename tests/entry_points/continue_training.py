"""Fits the resume test's model under $KERAS_BACKEND, fresh or from a `.keras` file.

Usage: KERAS_BACKEND=... python -m tests.entry_points.continue_training OUT_DIR EPOCHS [MODEL.keras [--fresh-optimizer]]

Writes OUT_DIR/model.keras and OUT_DIR/run.json: the backend, the optimizer's
iteration count before and after, and the loss of each epoch.
"""

import json
import sys
from pathlib import Path

import keras

from keras_wsoftmax import WSoftmax
from tests.helpers.blobs import blob_model, blobs


def new_model():
    model = blob_model(units=8)
    model.compile(keras.optimizers.Adam(1e-2), loss=WSoftmax(0.3))
    return model


def main(out_dir, epochs, model_path=None, *flags):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = keras.saving.load_model(model_path) if model_path else new_model()
    if "--fresh-optimizer" in flags:
        model.compile(keras.optimizers.Adam(1e-2), loss=model.loss)
    before = int(model.optimizer.iterations)
    x, y = blobs(256)
    history = model.fit(x, y, epochs=int(epochs), batch_size=64, shuffle=False, verbose=0)
    model.save(out / "model.keras")
    run = {
        "backend": keras.backend.backend(),
        "iterations_before": before,
        "iterations_after": int(model.optimizer.iterations),
        "losses": [float(v) for v in history.history["loss"]],
    }
    (out / "run.json").write_text(json.dumps(run))


if __name__ == "__main__":
    main(*sys.argv[1:])
