"""The studies' training loop: the fit-target budget, and heads that output features."""

import keras
import numpy as np
import pytest

from experiments import data, models
from experiments.training import train
from keras_wsoftmax import WSoftmax


def test_fit_target_stops_at_the_first_epoch_that_reaches_it():
    task = data.synthetic(3, train_per_class=20, test_per_class=5)

    def epochs_trained(fit_target):
        model = models.mlp(task.input_shape, task.num_classes, seed=0, hidden=16)
        result, history = train(
            model,
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            task,
            epochs=4,
            batch_size=30,
            fit_target=fit_target,
        )
        assert result["epochs_trained"] == len(history["accuracy"])
        return result["epochs_trained"]

    assert epochs_trained(None) == 4
    assert epochs_trained(1e-6) == 1  # every epoch reaches it: stop after the first
    assert epochs_trained(1.01) == 4  # no epoch reaches it: the cap


def test_a_features_head_is_measured_on_the_logits_of_every_class():
    task = data.synthetic(5, train_per_class=20, test_per_class=8)
    model = models.mlp(
        task.input_shape, task.num_classes, seed=0, hidden=16, output_mode="features"
    )
    head = model.layers[-1]
    loss = head.fused_loss(WSoftmax(0.2), chunk_size=2)
    result, history = train(model, loss, task, epochs=2, batch_size=30)
    assert list(history) == ["loss"]  # no Keras metric can read features
    logits = keras.ops.convert_to_numpy(head.logits(model.predict(task.x_test, verbose=0)))
    assert result["test_accuracy"] == pytest.approx(np.mean(logits.argmax(-1) == task.y_test))
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected = float(keras.ops.convert_to_numpy(cross_entropy(task.y_test, logits)))
    assert result["test_cross_entropy"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="output_mode='features' outputs features"):
        train(model, loss, task, epochs=1, batch_size=30, fit_target=0.9)
