"""Data-parallel training with WSoftmax through Keras's own engines, on CPU devices."""

import json

import numpy as np
import pytest

from tests.helpers.backends import BACKEND
from tests.helpers.processes import run_module

pytestmark = pytest.mark.slow  # several devices, in processes of their own

TWO_CPU_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def fit(mode, out, entry_point="distributed_fit"):
    run_module(
        f"tests.entry_points.{entry_point}",
        mode,
        out,
        env={"KERAS_BACKEND": BACKEND, **TWO_CPU_DEVICES},
    )
    info = json.loads((out / f"{mode}.json").read_text())
    with np.load(out / f"{mode}.npz") as weights:
        return info, [weights[k] for k in sorted(weights.files, key=lambda k: int(k[4:]))]


def assert_same_training(one, parallel):
    (one_info, one_weights), (parallel_info, parallel_weights) = one, parallel
    # Summation order differs across devices: float32 rounding, no more.
    np.testing.assert_allclose(parallel_info["losses"], one_info["losses"], rtol=1e-5)
    for got, want in zip(parallel_weights, one_weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # And the model did train (the comparison is not between two no-ops).
    assert one_info["losses"][-1] < 0.9 * one_info["losses"][0]


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution is JAX's")
def test_jax_data_parallel_matches_one_device(tmp_path):
    parallel = fit("jax_data_parallel", tmp_path)
    info = parallel[0]
    # Two devices, and the global batch is split along them.
    assert info["devices"] == 2 and info["mesh"] == {"batch": 2}
    assert info["batch_axes"][0] == "batch"
    assert_same_training(fit("jax_one", tmp_path), parallel)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute is TensorFlow's")
def test_tf_mirrored_strategy_matches_one_device(tmp_path):
    parallel = fit("tf_mirrored", tmp_path)
    assert parallel[0]["devices"] == 2
    # Equal losses and weights also rule out double scaling of the loss.
    assert_same_training(fit("tf_one", tmp_path), parallel)


@pytest.mark.skipif(BACKEND != "torch", reason="DistributedDataParallel is PyTorch's")
def test_torch_ddp_matches_one_process(tmp_path):
    """Keras 3 has no multi-device fit() on torch: DDP around the model, custom loop."""
    one_info, one_weights = fit("one", tmp_path, "torch_ddp_fit")
    _, ddp_weights = fit("ddp", tmp_path, "torch_ddp_fit")
    for got, want in zip(ddp_weights, one_weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    losses = one_info["losses_rank0"]
    assert np.mean(losses[-4:]) < 0.9 * np.mean(losses[:4])
