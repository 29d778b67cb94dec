"""Fixtures the test modules share."""

import os

import keras
import pytest

from experiments.fused_cost import BFC_SWITCH

# Before TensorFlow's first op: its CPU allocator then keeps the statistics
# that experiments.fused_cost reads on every CPU, not only where oneDNN is on.
os.environ.setdefault(BFC_SWITCH, "true")


@pytest.fixture
def fashion_mnist():
    """Skips the test where Fashion-MNIST's IDX files are missing, except in CI (which installs them)."""
    from experiments import data  # only the tests that use it need TFDS

    if data.find_idx_dir() is None and not os.environ.get("CI"):
        pytest.skip("apt-get install -y dataset-fashion-mnist (CI installs it)")


@pytest.fixture(autouse=True)
def no_determinism_leaks():
    """Undoes the process-wide determinism a test switched on (the studies do, for their reports).

    Left on, TensorFlow's op determinism makes Keras drop `jit_compile=True`
    for every later test (pyproject.toml turns that fallback's warning into
    an error), and PyTorch's deterministic algorithms slow the rest down.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from tensorflow.python.framework import config  # the one switch TF has no public undo for

        before = config.is_op_determinism_enabled()
        yield
        if config.is_op_determinism_enabled() and not before:
            config.disable_op_determinism()
    elif backend == "torch":
        import torch

        before = torch.are_deterministic_algorithms_enabled()
        yield
        torch.use_deterministic_algorithms(before)
    else:
        yield
