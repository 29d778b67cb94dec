"""W-Softmax's own properties: its formula over a wide range of logits, alpha, the literal bias;
the contract it shares with the other losses is in test_losses.py and test_loss_contract.py."""

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_wsoftmax import DEFAULT_ALPHA, WSoftmax, reference, wsoftmax
from tests.helpers.backends import grad_of_sum

FLOAT32_EPS = float(np.finfo(np.float32).eps)
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def random_case(rng, shape, scale):
    logits = (rng.standard_normal(shape) * scale).astype(np.float32)
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    return logits, labels


def assert_matches_reference(actual, logits, labels, alpha):
    expected = reference.wsoftmax(logits, labels, alpha)
    # Float32 rounding of the inputs and of sums of terms as large as |z|.
    atol = 8 * FLOAT32_EPS * max(1.0, float(np.abs(logits).max()))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(actual), expected, rtol=1e-5, atol=atol)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.35, 0.7, 0.99])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0, 1e4])
@pytest.mark.parametrize("shape", [(64, 10), (3, 5, 7, 6)])
def test_matches_float64_reference(alpha, scale, shape):
    logits, labels = random_case(np.random.default_rng(0), shape, scale)
    losses = wsoftmax(labels, logits, alpha)
    assert tuple(losses.shape) == shape[:-1]
    assert_matches_reference(losses, logits, labels, alpha)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.8])
@pytest.mark.parametrize("scale", [0.5, 8.0])
def test_gradient_matches_analytic(alpha, scale, jit):
    logits, labels = random_case(np.random.default_rng(3), (48, 9), scale)
    ids = keras.ops.convert_to_tensor(labels)
    grad = grad_of_sum(lambda z: wsoftmax(ids, z, alpha), logits, jit)
    np.testing.assert_allclose(
        grad, reference.wsoftmax_grad(logits, labels, alpha), rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize("jit", [False, True])
def test_gradient_is_finite_for_huge_logits(jit):
    logits, labels = random_case(np.random.default_rng(4), (64, 10), 1e4)
    ids = keras.ops.convert_to_tensor(labels)
    grad = grad_of_sum(lambda z: wsoftmax(ids, z, 0.5), logits, jit)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, reference.wsoftmax_grad(logits, labels, 0.5), atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-2, 1.0, 10.0, 1e3]),
    alphas=st.lists(st.floats(0.0, 0.999), min_size=2, max_size=4),
)
def test_never_below_cross_entropy_and_non_decreasing_in_alpha(seed, scale, alphas):
    logits, labels = random_case(np.random.default_rng(seed), (16, 6), scale)
    cross_entropy = keras.ops.convert_to_numpy(wsoftmax(labels, logits, 0.0))
    previous = cross_entropy
    for alpha in sorted(alphas):
        losses = keras.ops.convert_to_numpy(wsoftmax(labels, logits, alpha))
        # 2 units in the last place: see test_properties.test_non_decreasing_in_alpha.
        assert np.all(losses >= previous - 2 * np.spacing(previous)), (alpha, losses - previous)
        previous = losses


def test_margin_literal_bias_collapses_but_ours_does_not():
    # The failure documented in docs/wsoftmax.md: z_j = 0.9 z_y, z_y -> -inf.
    z_y = -100.0
    logits = np.array([[z_y, 0.9 * z_y, 0.9 * z_y]], dtype=np.float32)
    labels = np.array([0])
    assert reference.literal_wsoftmax(logits, labels, 0.3)[0] < 1e-6
    ours = float(keras.ops.convert_to_numpy(wsoftmax(labels, logits, 0.3))[0])
    assert ours > 40.0
    assert ours >= reference.cross_entropy(logits, labels)[0]


def test_zero_loss_needs_the_margin():
    alpha = 0.3
    # Correct by a margin smaller than alpha * z_y: cross-entropy small, ours not.
    logits = np.array([[100.0, 80.0]], dtype=np.float32)
    ours = float(keras.ops.convert_to_numpy(wsoftmax(np.array([0]), logits, alpha))[0])
    assert reference.cross_entropy(logits, [0])[0] < 1e-8
    assert ours > 9.0
    # Correct by more than the margin: both near zero.
    logits = np.array([[100.0, 60.0]], dtype=np.float32)
    ours = float(keras.ops.convert_to_numpy(wsoftmax(np.array([0]), logits, alpha))[0])
    assert ours < 1e-4


def test_linear_in_logits_memory():
    # An (N, C, C) intermediate would need 256 GiB here; O(N*C) needs ~64 MiB.
    n, c = 4096, 4096
    logits = np.zeros((n, c), dtype=np.float32)
    labels = np.arange(n) % c
    losses = keras.ops.convert_to_numpy(wsoftmax(labels, logits, 0.5))
    np.testing.assert_allclose(losses, np.log(c), rtol=1e-5)


@pytest.mark.parametrize(
    "alpha", [-0.1, 1.0, 1.5, math.nan, math.inf, -math.inf, "0.2", None, True, [0.2]]
)
def test_invalid_alpha_is_rejected(alpha):
    with pytest.raises(ValueError, match=r"alpha"):
        WSoftmax(alpha)
    with pytest.raises(ValueError, match=r"alpha"):
        wsoftmax(np.array([0]), np.zeros((1, 2), np.float32), alpha)


def test_invalid_alpha_message_says_range_and_why():
    with pytest.raises(ValueError) as error:
        WSoftmax(1.0)
    message = str(error.value)
    assert "0 <= alpha < 1" in message and "1.0" in message and "no gradient" in message


def test_config_round_trip():
    loss = WSoftmax(0.37, ignore_class=255, reduction="sum", name="margin", axis=1)
    config = loss.get_config()
    assert config == {
        "name": "margin",
        "reduction": "sum",
        "alpha": 0.37,
        "ignore_class": 255,
        "axis": 1,
    }
    # Configs saved before `axis` existed load with the default.
    assert WSoftmax.from_config({"alpha": 0.3, "ignore_class": None}).axis == -1
    restored = WSoftmax.from_config(config)
    assert restored.get_config() == config
    revived = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(revived, WSoftmax) and revived.get_config() == config


def test_default_alpha():
    assert WSoftmax().alpha == DEFAULT_ALPHA == 0.2


def test_alpha_is_assignable_and_validated():
    loss = WSoftmax(0.1)
    loss.alpha = 0.4
    assert loss.alpha == 0.4 and loss.get_config()["alpha"] == 0.4
    logits, labels = random_case(np.random.default_rng(13), (8, 5), 2.0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loss(labels, logits)),
        reference.wsoftmax(logits, labels, 0.4).mean(),
        rtol=1e-5,
    )
    with pytest.raises(ValueError, match=r"alpha=1\.2"):
        loss.alpha = 1.2
    assert loss.alpha == 0.4


@pytest.mark.parametrize("alpha", [0.0, 0.45])
def test_tensor_alpha_matches_float_alpha(alpha):
    logits, labels = random_case(np.random.default_rng(14), (6, 4), 3.0)
    got = wsoftmax(labels, logits, keras.ops.convert_to_tensor(alpha))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got), reference.wsoftmax(logits, labels, alpha), rtol=1e-5
    )
