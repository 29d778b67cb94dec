"""The studies' models: the paper's head width unless told otherwise."""

import pytest

from experiments import models
from keras_wsoftmax import min_units


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_studies_keep_the_papers_width_by_default(activation):
    model = models.mlp((8,), 12, seed=0, hidden=4, activation=activation)
    assert model.layers[-1].units == min_units(12, activation)


def test_studies_take_a_given_width():
    assert models.cnn((28, 28, 1), 10, seed=0, units=40).layers[-1].units == 40


def test_for_inputs_builds_the_mlp_of_the_shape_asked():
    model = models.for_inputs((8,), 12, seed=0, dropout=0.0, mlp_shape=(1, 16), units=24)
    dense = [layer.units for layer in model.layers if type(layer).__name__ == "Dense"]
    assert dense == [16] and not any(type(x).__name__ == "Dropout" for x in model.layers)
    assert [layer.units for layer in models.for_inputs((8,), 12, seed=0).layers[:2]] == [512, 512]
    with pytest.raises(ValueError, match="mlp_shape is for vector inputs"):
        models.for_inputs((28, 28, 1), 10, seed=0, mlp_shape=(1, 16))
