"""The backend in pytest's report header: each backend runs in a process of its own."""

import os

import keras


def pytest_report_header(config):
    return (
        f"keras {keras.__version__}, backend {keras.backend.backend()} "
        f"(KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '<unset>')})"
    )
