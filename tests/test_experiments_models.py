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
