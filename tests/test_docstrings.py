"""The examples in the package's docstrings run and print what they say."""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest

import keras_wsoftmax

MODULES = sorted(
    info.name for info in pkgutil.iter_modules(keras_wsoftmax.__path__, "keras_wsoftmax.")
)


# Modules whose docstrings hold examples: a module that loses them fails here.
WITH_EXAMPLES = {
    "keras_wsoftmax._fused",
    "keras_wsoftmax.arcface",
    "keras_wsoftmax.cosface",
    "keras_wsoftmax.geometry",
    "keras_wsoftmax.loss",
    "keras_wsoftmax.sizing",
}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(
        importlib.import_module(name),
        extraglobs={"np": np, "keras": keras},
        optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS,
    )
    assert result.failed == 0
    assert (result.attempted > 0) == (name in WITH_EXAMPLES)
