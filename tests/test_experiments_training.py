"""The studies' training loop: the fit-target budget."""

import keras

from experiments import data, models
from experiments.training import train


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
