"""Saves the small `.keras` models whose loading `tests/test_saved_models.py` checks.

Usage: KERAS_BACKEND=tensorflow python -m tests.entry_points.save_models OUT_DIR

One model per loss class (`WSoftmax`, `CosFace`, `ArcFace`), one on the
plain head (``normalize=False``) and one compiled with a fused loss, each
trained for one epoch on the blobs; beside them ``inputs.npy`` and
``expected.npz``, each model's logits for those inputs (the fused model's
through ``head.logits``). The committed files were written by version 0.3.0
(commit c1665ce), so that a later version is tested against what an earlier
one saved; run it again only to add a model, into a new folder.
"""

import sys
from pathlib import Path

import keras
import numpy as np

from keras_wsoftmax import ArcFace, CosFace, WSoftmax, WSoftmaxHead
from tests.helpers.blobs import NUM_CLASSES, NUM_FEATURES, blobs


def models():
    """``name -> (head kwargs, loss of the head)``: what each saved model is compiled with."""
    return {
        "wsoftmax": ({"scale": 10.0, "activation": "gelu"}, lambda h: WSoftmax(0.35, -1)),
        "cosface": ({}, lambda h: CosFace(0.3, scale=h.scale)),
        "arcface": ({"scale": 12.0}, lambda h: ArcFace(0.4, scale=h.scale, easy_margin=True)),
        "plain_head": ({"normalize": False}, lambda h: WSoftmax(0.2)),
        "fused": (
            {"output_mode": "features"},
            lambda h: h.fused_loss(ArcFace(0.5, scale=h.scale), chunk_size=2),
        ),
    }


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x, y = blobs(256)
    inputs = x[:16]
    np.save(out / "inputs.npy", inputs)
    expected = {}
    for name, (head_kwargs, loss) in models().items():
        keras.utils.set_random_seed(0)
        head = WSoftmaxHead(NUM_CLASSES, units=8, name="head", **head_kwargs)
        model = keras.Sequential(
            [keras.Input((NUM_FEATURES,)), keras.layers.Dense(16, activation="relu"), head]
        )
        model.compile(keras.optimizers.Adam(1e-2), loss=loss(head))
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        model.save(out / f"{name}.keras")
        outputs = model.predict(inputs, verbose=0)
        if head.output_mode == "features":
            outputs = keras.ops.convert_to_numpy(head.logits(outputs))
        expected[name] = outputs
    np.savez(out / "expected.npz", **expected)


if __name__ == "__main__":
    main(*sys.argv[1:])
