"""Fixtures the test modules share."""

import os

import pytest

from experiments import data


@pytest.fixture
def fashion_mnist():
    """Skips the test where Fashion-MNIST's IDX files are missing, except in CI (which installs them)."""
    if data.find_idx_dir() is None and not os.environ.get("CI"):
        pytest.skip("apt-get install -y dataset-fashion-mnist (CI installs it)")
