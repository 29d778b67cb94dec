"""Loads a `.keras` model under $KERAS_BACKEND; writes predictions and its loss config.

Usage: KERAS_BACKEND=... python -m tests.entry_points.load_and_predict MODEL INPUTS.npy OUT_DIR
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np

import keras_wsoftmax  # noqa: F401  (registers the loss and the head)


def main(model_path, inputs_path, out_dir):
    model = keras.saving.load_model(model_path)
    out = Path(out_dir)
    np.save(out / "predictions.npy", model.predict(np.load(inputs_path), verbose=0))
    loss = model.loss
    (out / "loss.json").write_text(
        json.dumps(
            {
                "class": type(loss).__name__,
                "config": loss.get_config(),
                "backend": keras.backend.backend(),
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
