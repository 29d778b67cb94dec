import keras
import numpy as np
import pytest

from keras_wsoftmax import AlphaScheduler, WSoftmax, WSoftmaxHead, reference
from tests.helpers.blobs import NUM_CLASSES, NUM_FEATURES, blobs

SCHEDULE = [0.0, 0.3, 0.6]


def frozen_model(loss, jit_compile=True):
    """A model whose weights do not move (learning rate 0), compiled for XLA / torch.compile.

    `jit_compile=False` where a test checks only the callback, not the compiled step
    (compiling takes most of such a test's time, torch.compile above all).
    """
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((NUM_FEATURES,)), WSoftmaxHead(NUM_CLASSES, units=8)])
    model.compile(keras.optimizers.SGD(0.0), loss=loss, jit_compile=jit_compile)
    return model


def test_schedule_changes_the_loss_inside_compiled_steps():
    x, y = blobs(64, seed=5)
    x_val, y_val = blobs(32, seed=6)
    model = frozen_model(WSoftmax(0.1))
    logits = model.predict(x, verbose=0)
    val_logits = model.predict(x_val, verbose=0)
    history = model.fit(
        x,
        y,
        epochs=len(SCHEDULE),
        batch_size=len(x),
        validation_data=(x_val, y_val),
        callbacks=[AlphaScheduler(lambda epoch, alpha: SCHEDULE[epoch])],
        verbose=0,
    )
    # The loss each compiled step computed, epoch by epoch, is the loss at
    # that epoch's alpha: not only the Python attribute moved.
    want = [reference.wsoftmax(logits, y, a).mean() for a in SCHEDULE]
    np.testing.assert_allclose(history.history["loss"], want, rtol=1e-5)
    want_val = [reference.wsoftmax(val_logits, y_val, a).mean() for a in SCHEDULE]
    np.testing.assert_allclose(history.history["val_loss"], want_val, rtol=1e-5)
    np.testing.assert_allclose(history.history["alpha"], SCHEDULE)
    assert model.loss.alpha == SCHEDULE[-1]
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), want[-1], rtol=1e-5)


def test_schedule_gets_the_epoch_and_the_current_alpha():
    seen = []

    def warm_up(epoch, alpha):
        seen.append((epoch, alpha))
        return 0.1 * epoch

    x, y = blobs(32, seed=7)
    model = frozen_model(WSoftmax(0.05), jit_compile=False)
    model.fit(x, y, epochs=3, callbacks=[AlphaScheduler(warm_up)], verbose=0)
    assert seen == [(0, 0.05), (1, 0.0), (2, 0.1)]


def test_every_wsoftmax_of_a_multi_output_model_is_set():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((NUM_FEATURES,))
    outputs = {
        "a": WSoftmaxHead(NUM_CLASSES, name="a")(inputs),
        "b": WSoftmaxHead(NUM_CLASSES, name="b")(inputs),
    }
    model = keras.Model(inputs, outputs)
    losses = {"a": WSoftmax(0.0), "b": WSoftmax(0.5)}
    model.compile("sgd", loss=losses)
    x, y = blobs(32, seed=8)
    model.fit(x, {"a": y, "b": y}, callbacks=[AlphaScheduler(lambda e, a: 0.25)], verbose=0)
    assert losses["a"].alpha == losses["b"].alpha == 0.25


def test_scheduled_alpha_is_saved_with_the_model(tmp_path):
    x, y = blobs(32, seed=9)
    model = frozen_model(WSoftmax(0.0), jit_compile=False)
    model.fit(x, y, epochs=2, callbacks=[AlphaScheduler(lambda e, a: 0.2 * e)], verbose=0)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(restored.loss, WSoftmax) and restored.loss.alpha == 0.2


def test_scheduler_needs_a_wsoftmax_loss():
    model = frozen_model(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False
    )
    x, y = blobs(16)
    with pytest.raises(ValueError, match="needs a model compiled with a WSoftmax loss"):
        model.fit(x, y, callbacks=[AlphaScheduler(lambda e, a: 0.1)], verbose=0)


@pytest.mark.parametrize("bad", [1.5, -0.2, "0.1", None])
def test_schedule_output_is_validated(bad):
    model = frozen_model(WSoftmax(), jit_compile=False)
    x, y = blobs(16)
    with pytest.raises(ValueError, match=r"schedule at epoch 0: alpha .*" + repr(bad)[:3]):
        model.fit(x, y, callbacks=[AlphaScheduler(lambda e, a: bad)], verbose=0)


def test_verbose_prints_the_change(capsys):
    model = frozen_model(WSoftmax(0.0), jit_compile=False)
    x, y = blobs(16)
    model.fit(x, y, epochs=2, callbacks=[AlphaScheduler(lambda e, a: 0.1, verbose=1)], verbose=0)
    out = capsys.readouterr().out
    assert out.count("AlphaScheduler setting alpha to 0.1") == 1


def test_alpha_assigned_between_fits_reaches_the_compiled_step_after_compile():
    x, y = blobs(32, seed=10)
    loss = WSoftmax(0.1)
    model = frozen_model(loss)
    logits = model.predict(x, verbose=0)
    model.fit(x, y, batch_size=len(x), verbose=0)
    loss.alpha = 0.5
    model.compile(model.optimizer, loss=loss, jit_compile=True)
    history = model.fit(x, y, batch_size=len(x), verbose=0)
    want = reference.wsoftmax(logits, y, 0.5).mean()
    np.testing.assert_allclose(history.history["loss"], [want], rtol=1e-5)
