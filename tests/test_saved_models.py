"""Models saved by an earlier version load, and predict the same logits, on every backend.

The files in ``tests/data/saved_0.3.0`` were written by
`tests.entry_points.save_models` under TensorFlow with version 0.3.0.
"""

from pathlib import Path

import keras
import numpy as np
import pytest

from keras_wsoftmax import ArcFace, CosFace, WSoftmax, WSoftmaxHead
from tests.entry_points.save_models import models

SAVED = Path(__file__).parent / "data" / "saved_0.3.0"

# What each file's loss and head were made with (tests.entry_points.save_models).
LOSSES = {
    "wsoftmax": (WSoftmax, {"alpha": 0.35, "ignore_class": -1}),
    "cosface": (CosFace, {"margin": 0.3, "scale": 16.0}),
    "arcface": (ArcFace, {"margin": 0.4, "scale": 12.0, "easy_margin": True}),
    "plain_head": (WSoftmax, {"alpha": 0.2}),
}
HEADS = {
    "wsoftmax": {"scale": 10.0, "normalize": True},
    "cosface": {"scale": 16.0, "normalize": True},
    "arcface": {"scale": 12.0, "normalize": True},
    "plain_head": {"normalize": False},
    "fused": {"scale": 16.0, "normalize": True, "output_mode": "features"},
}


def test_every_saved_model_is_tested():
    assert set(models()) == set(HEADS) == set(LOSSES) | {"fused"}
    assert {p.stem for p in SAVED.glob("*.keras")} == set(HEADS)


@pytest.mark.parametrize("name", sorted(HEADS))
def test_saved_model_loads_and_predicts_the_same_logits(name):
    model = keras.saving.load_model(SAVED / f"{name}.keras")
    head = model.get_layer("head")
    assert isinstance(head, WSoftmaxHead)
    for key, value in HEADS[name].items():
        assert getattr(head, key) == value, key
    outputs = model.predict(np.load(SAVED / "inputs.npy"), verbose=0)
    if head.output_mode == "features":
        outputs = keras.ops.convert_to_numpy(head.logits(outputs))
    expected = np.load(SAVED / "expected.npz")[name]
    # Saved under TensorFlow: another backend rounds its float32 matmuls otherwise.
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_saved_loss_comes_back_with_its_parameters(name):
    loss = keras.saving.load_model(SAVED / f"{name}.keras").loss
    cls, parameters = LOSSES[name]
    assert type(loss) is cls
    config = loss.get_config()
    for key, value in parameters.items():
        assert config[key] == value, key


def test_saved_fused_loss_comes_back_unbound_and_binds_again():
    model = keras.saving.load_model(SAVED / "fused.keras")
    assert isinstance(model.loss.loss, ArcFace) and model.loss.chunk_size == 2
    with pytest.raises(ValueError, match="model.get_layer\\('head'\\).fused_loss"):
        model.loss(np.zeros(2, "int32"), np.zeros((2, 8), "float32"))
    head = model.get_layer("head")
    model.compile(loss=head.fused_loss(model.loss.loss, chunk_size=2))
    x = np.load(SAVED / "inputs.npy")
    y = np.argmax(np.load(SAVED / "expected.npz")["fused"], axis=-1)
    assert np.isfinite(model.evaluate(x, y, verbose=0))
