"""Shared pytest set-up: the backend in the report header, names for doctests."""

import os

import keras
import numpy as np
import pytest


def pytest_report_header(config):
    return (
        f"keras {keras.__version__}, backend {keras.backend.backend()} "
        f"(KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '<unset>')})"
    )


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace["np"] = np
    doctest_namespace["keras"] = keras
