import json

import keras
import numpy as np
import pytest

from keras_wsoftmax import WSoftmax, WSoftmaxHead
from tests.helpers.backends import ALL_BACKENDS, BACKEND
from tests.helpers.blobs import NUM_CLASSES, NUM_FEATURES, blobs
from tests.helpers.processes import run_module

ALPHA = 0.35


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((NUM_FEATURES,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    logits = WSoftmaxHead(NUM_CLASSES, units=8, activation="gelu", scale=10.0)(hidden)
    model = keras.Model(inputs, logits)
    model.compile(
        keras.optimizers.Adam(1e-2), loss=WSoftmax(ALPHA, ignore_class=-1), metrics=["accuracy"]
    )
    x, y = blobs(256)
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    model.save(path)
    return model, path, x[:64]


def test_round_trip_within_backend(saved_model):
    model, path, x = saved_model
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(restored.loss, WSoftmax)
    assert restored.loss.alpha == ALPHA and restored.loss.ignore_class == -1
    head = restored.layers[-1]
    assert isinstance(head, WSoftmaxHead) and head.units == 8 and head.scale == 10.0
    # The optimizer state travels too: training resumes, it does not restart.
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations) == 8


@pytest.mark.slow  # a process per backend
@pytest.mark.parametrize("other", [b for b in ALL_BACKENDS if b != BACKEND])
def test_model_saved_here_loads_under_the_other_backends(saved_model, other, tmp_path):
    model, path, x = saved_model
    np.save(tmp_path / "inputs.npy", x)
    run_module(
        "tests.entry_points.load_and_predict",
        path,
        tmp_path / "inputs.npy",
        tmp_path,
        env={"KERAS_BACKEND": other},
    )
    loaded = json.loads((tmp_path / "loss.json").read_text())
    assert loaded["backend"] == other
    assert loaded["class"] == "WSoftmax"
    assert loaded["config"]["alpha"] == ALPHA and loaded["config"]["ignore_class"] == -1
    expected = model.predict(x, verbose=0)
    # Relative to the logits' scale: backends round differently in float32,
    # and a logit near zero after cancellation has no relative precision.
    np.testing.assert_allclose(
        np.load(tmp_path / "predictions.npy"),
        expected,
        rtol=1e-5,
        atol=1e-5 * np.abs(expected).max(),
    )


def continue_training(backend, out, epochs, *load):
    run_module(
        "tests.entry_points.continue_training", out, epochs, *load, env={"KERAS_BACKEND": backend}
    )
    return json.loads((out / "run.json").read_text())


@pytest.mark.slow  # a process per backend
@pytest.mark.skipif(
    BACKEND != "tensorflow", reason="spawns every backend itself; runs in the TensorFlow session"
)
def test_training_resumes_across_backends(tmp_path):
    """2 epochs under TensorFlow, saved; 1 more under each backend from the file."""
    start = continue_training("tensorflow", tmp_path / "start", 2)
    saved = tmp_path / "start" / "model.keras"
    steps = 256 // 64
    assert start["iterations_after"] == 2 * steps
    resumed = {b: continue_training(b, tmp_path / b, 1, saved) for b in ALL_BACKENDS}
    fresh = continue_training("jax", tmp_path / "fresh", 1, saved, "--fresh-optimizer")

    weights = {
        name: keras.saving.load_model(tmp_path / name / "model.keras").get_weights()
        for name in [*ALL_BACKENDS, "fresh"]
    }
    for backend, run in resumed.items():
        assert run["backend"] == backend
        # The optimizer state is loaded and used: its count goes on from 8.
        assert (run["iterations_before"], run["iterations_after"]) == (2 * steps, 3 * steps)
        # Same data, same order, same Adam moments: the third epoch is the
        # same on every backend, up to float32 rounding.
        np.testing.assert_allclose(run["losses"], resumed["tensorflow"]["losses"], rtol=1e-4)
        for got, want in zip(weights[backend], weights["tensorflow"], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # The loss goes on from where it was: below both epochs before it.
    assert resumed["jax"]["losses"][0] < min(start["losses"])
    # The check can fail: a fresh Adam from the same weights lands elsewhere.
    assert fresh["iterations_before"] == 0
    assert (
        max(
            np.abs(got - want).max()
            for got, want in zip(weights["fresh"], weights["tensorflow"], strict=True)
        )
        > 1e-3
    )
