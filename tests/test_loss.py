import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import reference
from keras_wsoftmax import DEFAULT_ALPHA, WSoftmax, wsoftmax
from tests.helpers.backends import compiled, grad_of_sum

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


def test_alpha_zero_is_keras_sparse_cross_entropy():
    logits, labels = random_case(np.random.default_rng(1), (128, 12), 5.0)
    expected = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(wsoftmax(labels, logits, 0.0)),
        keras.ops.convert_to_numpy(expected),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("shape", [(32, 7), (2, 4, 4, 5)])
def test_label_layouts_agree(shape):
    logits, labels = random_case(np.random.default_rng(2), shape, 3.0)
    sparse = keras.ops.convert_to_numpy(wsoftmax(labels, logits, 0.3))
    one_hot = np.eye(shape[-1], dtype=np.float32)[labels]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(wsoftmax(one_hot, logits, 0.3)), sparse
    )
    column = labels[..., None]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(wsoftmax(column, logits, 0.3)), sparse)


# jit=True checks the path compiled train steps take: on PyTorch, torch.compile
# differentiates the plain composition instead of our hand-written gradient.
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


def test_gradient_with_respect_to_alpha():
    """A learnable margin gets d loss / d alpha = sum of sigmoid(margin) |z_y|."""
    logits, labels = random_case(np.random.default_rng(5), (12, 6), 2.0)
    grad = grad_of_sum(lambda a: wsoftmax(labels, logits, a[0]), np.array([0.3]))
    margin = reference.wsoftmax(logits, labels, 0.3)
    z_y = logits[np.arange(12), labels]
    want = np.sum(-np.expm1(-margin) * np.abs(z_y))  # sigmoid(m) = 1 - exp(-softplus(m))
    np.testing.assert_allclose(grad, [want], rtol=1e-5)


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


def keras_pair(alpha, reduction, ignore_class=None):
    ours = WSoftmax(alpha, ignore_class=ignore_class, reduction=reduction)
    keras_ce = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=ignore_class, reduction=reduction
    )
    return ours, keras_ce


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_class", [None, -1, 3])
@pytest.mark.parametrize("shape", [(40, 6), (4, 5, 5, 6)])
def test_reductions_weights_and_ignore_class_as_keras(reduction, ignore_class, shape):
    rng = np.random.default_rng(5)
    logits, labels = random_case(rng, shape, 3.0)
    if ignore_class is not None:
        labels = np.where(rng.random(labels.shape) < 0.3, ignore_class, labels)
    sample_weight = rng.random(shape[:-1]).astype(np.float32)
    ours, keras_ce = keras_pair(0.0, reduction, ignore_class)
    for weight in (None, sample_weight):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(ours(labels, logits, sample_weight=weight)),
            keras.ops.convert_to_numpy(keras_ce(labels, logits, sample_weight=weight)),
            rtol=1e-5,
            atol=1e-6,
        )


@pytest.mark.parametrize("ignore_class", [None, 2])
def test_weighted_mean_with_margin_matches_reference(ignore_class):
    rng = np.random.default_rng(6)
    logits, labels = random_case(rng, (50, 5), 4.0)
    if ignore_class is not None:
        labels[::3] = ignore_class
    weight = rng.random(50).astype(np.float32)
    value = WSoftmax(0.4, ignore_class=ignore_class)(labels, logits, sample_weight=weight)
    kept = np.ones(50, bool) if ignore_class is None else labels != ignore_class
    per_sample = reference.wsoftmax(logits, labels, 0.4) * weight
    expected = per_sample[kept].sum() / kept.sum()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(value), expected, rtol=1e-5)


def test_ignore_class_applies_to_one_hot_rows():
    logits, labels = random_case(np.random.default_rng(7), (30, 4), 2.0)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    loss = WSoftmax(0.3, ignore_class=1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loss(one_hot, logits)),
        keras.ops.convert_to_numpy(loss(labels, logits)),
        rtol=1e-6,
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_logits_are_computed_in_float32(dtype):
    logits, labels = random_case(np.random.default_rng(8), (64, 10), 20.0)
    half = keras.ops.cast(logits, dtype)
    rounded = keras.ops.convert_to_numpy(keras.ops.cast(half, "float32"))
    losses = wsoftmax(labels, half, 0.3)
    assert keras.backend.standardize_dtype(losses.dtype) == "float32"
    # Float32 accuracy on the rounded inputs: a half-precision computation
    # would be off by about 1e-3 relative.
    assert_matches_reference(losses, rounded, labels, 0.3)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_loss_object_under_mixed_precision(policy):
    logits, labels = random_case(np.random.default_rng(9), (32, 10), 5.0)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        value = WSoftmax(0.3)(labels, keras.ops.cast(logits, policy.split("_")[1]))
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    rounded = keras.ops.convert_to_numpy(
        keras.ops.cast(keras.ops.cast(logits, policy.split("_")[1]), "float32")
    )
    expected = reference.wsoftmax(rounded, labels, 0.3).mean()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(value), expected, rtol=1e-5)


def test_linear_in_logits_memory():
    # An (N, C, C) intermediate would need 256 GiB here; O(N*C) needs ~64 MiB.
    n, c = 4096, 4096
    logits = np.zeros((n, c), dtype=np.float32)
    labels = np.arange(n) % c
    losses = keras.ops.convert_to_numpy(wsoftmax(labels, logits, 0.5))
    np.testing.assert_allclose(losses, np.log(c), rtol=1e-5)


def test_nan_logits_give_nan_loss():
    logits, labels = random_case(np.random.default_rng(10), (4, 3), 1.0)
    logits[2, 1] = np.nan
    losses = keras.ops.convert_to_numpy(wsoftmax(labels, logits, 0.2))
    assert np.isnan(losses[2]) and np.all(np.isfinite(losses[[0, 1, 3]]))


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


@pytest.mark.parametrize("bad_label", [5, -1, 7])
def test_label_outside_classes_raises_eagerly(bad_label):
    logits = np.zeros((4, 5), np.float32)
    labels = np.array([0, 1, bad_label, 2])
    with pytest.raises(ValueError, match=rf"Label {bad_label}\b.*index \(2,\).*\[0, 5\)"):
        wsoftmax(labels, logits, 0.2)
    with pytest.raises(ValueError, match=rf"Label {bad_label}"):
        WSoftmax(0.2)(labels, logits)


def test_ignore_class_label_is_not_an_error_but_others_are():
    logits = np.zeros((3, 5), np.float32)
    losses = keras.ops.convert_to_numpy(
        wsoftmax(np.array([0, 255, 4]), logits, 0.2, ignore_class=255)
    )
    np.testing.assert_allclose(losses, [np.log(5), 0.0, np.log(5)], rtol=1e-6)
    with pytest.raises(ValueError, match=r"Label -1\b"):
        wsoftmax(np.array([0, -1, 255]), logits, 0.2, ignore_class=255)


@pytest.mark.parametrize("row", [[0, 0, 0], [1, 1, 0], [0.5, 0.5, 0], [0, 2, 0]])
def test_rows_that_are_not_one_hot_raise_eagerly(row):
    labels = np.array([[1, 0, 0], row], np.float32)
    with pytest.raises(ValueError, match=r"one-hot label at index \(1,\).*not one-hot"):
        wsoftmax(labels, np.zeros((2, 3), np.float32), 0.2)


def test_non_integer_class_id_raises_eagerly():
    with pytest.raises(ValueError, match=r"Label 1.5"):
        wsoftmax(np.array([0.0, 1.5]), np.zeros((2, 3), np.float32), 0.2)


@pytest.mark.parametrize(
    "labels_shape, logits_shape",
    [((8,), (9, 4)), ((8, 2), (8, 4)), ((8, 4, 1), (8, 4)), ((2, 3), (2, 4, 4, 5))],
)
def test_label_and_logit_shape_mismatch_names_both_shapes(labels_shape, logits_shape):
    labels = np.zeros(labels_shape, np.int32)
    with pytest.raises(ValueError) as error:
        wsoftmax(labels, np.zeros(logits_shape, np.float32), 0.2)
    assert str(labels_shape) in str(error.value) and str(logits_shape) in str(error.value)


@pytest.mark.parametrize("logits_shape", [(4, 1), (4,), (2, 3, 1)])
def test_fewer_than_two_classes_or_rank_one_is_rejected(logits_shape):
    with pytest.raises(ValueError, match=r"C >= 2|rank >= 2"):
        wsoftmax(np.zeros(logits_shape[:-1], np.int32), np.zeros(logits_shape, np.float32), 0.2)


def test_invalid_labels_inside_compiled_function_give_nan():
    logits, _ = random_case(np.random.default_rng(11), (6, 4), 2.0)
    labels = np.array([0, 1, 4, 3, -2, 2], dtype=np.int32)
    losses = compiled(lambda y, z: wsoftmax(y, z, 0.3))(
        keras.ops.convert_to_tensor(labels), keras.ops.convert_to_tensor(logits)
    )
    losses = keras.ops.convert_to_numpy(losses)
    assert np.isnan(losses[2]) and np.isnan(losses[4])
    valid = [0, 1, 3, 5]
    np.testing.assert_allclose(
        losses[valid], reference.wsoftmax(logits[valid], labels[valid], 0.3), rtol=1e-5
    )


def test_invalid_labels_inside_compiled_function_give_nan_for_one_hot():
    logits, labels = random_case(np.random.default_rng(12), (3, 4), 2.0)
    one_hot = np.eye(4, dtype=np.float32)[labels]
    one_hot[1] = 0.0
    losses = compiled(lambda y, z: wsoftmax(y, z, 0.3))(
        keras.ops.convert_to_tensor(one_hot), keras.ops.convert_to_tensor(logits)
    )
    losses = keras.ops.convert_to_numpy(losses)
    assert np.isnan(losses[1]) and np.all(np.isfinite(losses[[0, 2]]))


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


def test_tensor_alpha_out_of_range_raises_eagerly_and_is_nan_compiled():
    logits, labels = random_case(np.random.default_rng(15), (6, 4), 3.0)
    bad = keras.ops.convert_to_tensor(1.5)
    with pytest.raises(ValueError, match=r"alpha=1\.5"):
        wsoftmax(labels, logits, bad)
    losses = compiled(lambda y, z, a: wsoftmax(y, z, a))(
        keras.ops.convert_to_tensor(labels), keras.ops.convert_to_tensor(logits), bad
    )
    assert np.all(np.isnan(keras.ops.convert_to_numpy(losses)))
    with pytest.raises(ValueError, match="scalar"):
        wsoftmax(labels, logits, keras.ops.convert_to_tensor([0.1, 0.2]))
