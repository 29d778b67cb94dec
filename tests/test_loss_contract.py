"""Keras's loss contract at the edges, for every loss of the package: non-finite logits, empty
batches, variables, `axis`; and, at zero margin, a port of Keras's own cross-entropy tests."""

import math

import keras
import numpy as np
import pytest

from keras_wsoftmax import reference, wsoftmax
from tests.helpers.backends import BACKEND, compiled, grad_of_sum
from tests.helpers.losses import every_loss

IGNORED = 255


def numpy(x):
    return keras.ops.convert_to_numpy(x)


# Non-finite logits -------------------------------------------------------


def segmentation_case(poison):
    """Logits (2, 3, 4, 5) and labels with 255 at 10 pixels whose logits are `poison`."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    labels = rng.integers(0, 5, (2, 3, 4)).astype(np.int32)
    ignored = rng.random((2, 3, 4)) < 0.4
    labels[ignored] = IGNORED
    logits[ignored] = poison
    return logits, labels, ignored


@every_loss
@pytest.mark.parametrize("poison", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("jit", [False, True])
def test_ignored_positions_get_zero_gradient_whatever_their_logits(case, poison, jit):
    logits, labels, ignored = segmentation_case(poison)
    loss = case.loss(ignore_class=IGNORED)
    label_tensor = keras.ops.convert_to_tensor(labels)  # torch.compile traces no NumPy
    grad = grad_of_sum(lambda z: loss(label_tensor, z), logits, jit=jit)
    assert np.isfinite(grad).all()
    assert (grad[ignored] == 0).all() and (grad[~ignored] != 0).any()
    # The value is that of any finite logits there, and Keras's at alpha = 0.
    clean = np.where(ignored[..., None], 0.0, logits).astype(np.float32)
    np.testing.assert_allclose(numpy(loss(labels, logits)), numpy(loss(labels, clean)), rtol=1e-6)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORED)
    ours = case.zero(ignore_class=IGNORED)
    np.testing.assert_allclose(
        numpy(ours(labels, logits)), numpy(keras_loss(labels, clean)), rtol=1e-5
    )


# log of one-hot probabilities: every non-target class masked with -inf.
with np.errstate(divide="ignore"):  # log 0 = -inf is the point
    MASKED = np.log(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0]], np.float32))
MASKED_LABELS = np.array([0, 1, 2, 0], np.int32)


@every_loss
@pytest.mark.filterwarnings("ignore:divide by zero")
@pytest.mark.parametrize("jit", [False, True])
def test_classes_masked_with_minus_infinity_contribute_nothing(case, jit):
    labels = keras.ops.convert_to_tensor(MASKED_LABELS)

    def per_sample(z):
        return case.function(labels, z)

    losses = numpy(
        (compiled(per_sample) if jit else per_sample)(keras.ops.convert_to_tensor(MASKED))
    )
    expected = case.reference(MASKED, MASKED_LABELS)
    np.testing.assert_array_equal(expected[:3], 0.0)  # the reference says the limit too
    np.testing.assert_allclose(losses, expected, rtol=1e-6, atol=1e-7)
    grad = grad_of_sum(per_sample, MASKED, jit=jit)
    assert np.isfinite(grad).all() and (grad[:3] == 0).all()
    np.testing.assert_allclose(
        grad, case.reference_grad(MASKED, MASKED_LABELS), rtol=1e-5, atol=1e-7
    )


@every_loss
@pytest.mark.skipif(BACKEND == "jax", reason="Keras's JAX cross-entropy gives NaN here")
def test_masked_classes_as_keras(case):
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(
        numpy(case.zero(reduction=None)(MASKED_LABELS, MASKED)),
        numpy(keras_loss(MASKED_LABELS, MASKED)),
        atol=1e-7,
    )


def test_infinite_target_logits_take_their_limits():
    """W-Softmax's limits; a cosine loss refuses an infinite target (test_losses)."""
    logits = np.array([[math.inf, 1.0, 2.0], [-math.inf, 1.0, 2.0], [1.0, math.inf, 2.0]])
    labels = np.array([0, 0, 0])
    losses = numpy(wsoftmax(labels, logits.astype(np.float32), 0.3))
    # z_y = +inf beats everything: 0. z_y = -inf: +inf. A +inf negative: no finite value, NaN.
    assert losses[0] == 0.0 and losses[1] == math.inf and math.isnan(losses[2])
    np.testing.assert_array_equal(
        np.isnan(reference.wsoftmax(logits, labels, 0.3)), [False, False, True]
    )
    grad = grad_of_sum(lambda z: wsoftmax(labels[:2], z, 0.3), logits[:2])
    np.testing.assert_array_equal(grad[0], 0.0)
    # z_y = -inf: the target gets -(1 + alpha), the negatives their softmax.
    np.testing.assert_allclose(grad[1], reference.wsoftmax_grad(logits, labels, 0.3)[1], rtol=1e-6)
    assert grad[1, 0] == pytest.approx(-1.3)


@every_loss
@pytest.mark.parametrize("position", [0, 1])
def test_nan_in_a_kept_position_stays_in_its_sample(case, position):
    logits = np.array([[1.0, 0.5, 0.0], [1.0, 2.0, 0.0]], np.float32)
    logits[0, position] = math.nan  # the target's logit, or a negative's
    losses = numpy(case.function(np.array([0, 0]), logits))
    assert math.isnan(losses[0]) and math.isfinite(losses[1])


# Empty batches -----------------------------------------------------------

REDUCTIONS = ["sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none", None]


@every_loss
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_class", [None, IGNORED])
def test_empty_batch_as_keras(case, reduction, ignore_class):
    logits, labels = np.zeros((0, 4), np.float32), np.zeros((0,), np.int32)
    kwargs = {"reduction": reduction, "ignore_class": ignore_class}
    ours = numpy(case.loss(**kwargs)(labels, logits))
    theirs = numpy(
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, **kwargs)(labels, logits)
    )
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@every_loss
def test_empty_batch_of_one_hot_labels_and_segmentation_maps(case):
    assert numpy(case.function(np.zeros((0, 4)), np.zeros((0, 4), np.float32))).shape == (0,)
    maps = np.zeros((2, 0, 3, 5), np.float32)
    assert numpy(case.function(np.zeros((2, 0, 3), np.int32), maps)).shape == (2, 0, 3)


@every_loss
def test_empty_batch_gradient_is_empty(case):
    grad = grad_of_sum(lambda z: case.function(np.zeros((0,), np.int32), z), np.zeros((0, 4)))
    assert grad.shape == (0, 4)


# Variables ---------------------------------------------------------------


@every_loss
def test_logits_in_a_keras_variable(case):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 6).astype(np.int32)
    variable = keras.Variable(logits)
    np.testing.assert_allclose(
        numpy(case.function(labels, variable)), numpy(case.function(labels, logits)), rtol=1e-6
    )
    np.testing.assert_allclose(
        numpy(case.loss()(keras.Variable(labels, dtype="int32", trainable=False), variable)),
        numpy(case.loss()(labels, logits)),
        rtol=1e-6,
    )


@every_loss
@pytest.mark.skipif(BACKEND != "tensorflow", reason="TensorFlow's variables")
def test_tensorflow_variables_and_their_gradient(case):
    import tensorflow as tf

    rng = np.random.default_rng(2)
    logits = tf.Variable(rng.normal(size=(6, 4)).astype(np.float32))
    labels = tf.Variable(rng.integers(0, 4, 6).astype(np.int32))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(case.function(labels, logits))
    grad = tape.gradient(total, logits).numpy()
    expected = case.reference_grad(logits.numpy(), labels.numpy())
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


@every_loss
@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch's parameters")
def test_torch_parameters_and_their_gradient(case):
    import torch

    rng = np.random.default_rng(3)
    logits = torch.nn.Parameter(torch.tensor(rng.normal(size=(6, 4)), dtype=torch.float32))
    labels = rng.integers(0, 4, 6)
    case.function(labels, logits).sum().backward()
    expected = case.reference_grad(logits.detach().numpy(), labels)
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-5, atol=1e-7)


# axis --------------------------------------------------------------------


def channels_first_case():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(2, 5, 3, 4)).astype(np.float32)  # (N, C, H, W)
    labels = rng.integers(0, 5, (2, 3, 4)).astype(np.int32)
    labels[0, 0, :2] = IGNORED
    weights = rng.uniform(0.5, 2.0, (2, 3, 4)).astype(np.float32)
    return logits, labels, weights


@every_loss
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
def test_channels_first_equals_channels_last(case, reduction):
    logits, labels, weights = channels_first_case()
    last = np.moveaxis(logits, 1, -1)
    first_loss = case.loss(ignore_class=IGNORED, reduction=reduction, axis=1)
    last_loss = case.loss(ignore_class=IGNORED, reduction=reduction)
    np.testing.assert_allclose(
        numpy(first_loss(labels, logits, sample_weight=weights)),
        numpy(last_loss(labels, last, sample_weight=weights)),
        rtol=1e-6,
    )
    # Labels with a size-1 class axis, and one-hot labels on the class axis.
    np.testing.assert_allclose(
        numpy(first_loss(labels[:, None], logits)), numpy(last_loss(labels, last)), rtol=1e-6
    )


@every_loss
def test_channels_first_one_hot_as_keras_categorical_cross_entropy(case):
    logits, labels, weights = channels_first_case()
    labels[labels == IGNORED] = 0
    one_hot = np.moveaxis(np.eye(5, dtype=np.float32)[labels], -1, 1)
    theirs = keras.losses.CategoricalCrossentropy(from_logits=True, axis=1)
    np.testing.assert_allclose(
        numpy(case.zero(axis=1)(one_hot, logits, sample_weight=weights)),
        numpy(theirs(one_hot, logits, sample_weight=weights)),
        rtol=1e-5,
    )


@every_loss
def test_channels_first_gradient_matches_reference(case):
    logits, labels, _ = channels_first_case()
    labels[labels == IGNORED] = 1
    label_tensor = keras.ops.convert_to_tensor(labels)
    grad = grad_of_sum(lambda z: case.function(label_tensor, z, axis=1), logits, jit=True)
    expected = case.reference_grad(np.moveaxis(logits, 1, -1), labels)
    np.testing.assert_allclose(grad, np.moveaxis(expected, -1, 1), rtol=1e-4, atol=1e-6)


@every_loss
@pytest.mark.parametrize("axis", [4, -5, 1.0, True])
def test_bad_axis_is_named(case, axis):
    with pytest.raises(ValueError, match=r"axis must be an integer in \[-4, 4\).*received axis="):
        case.function(np.zeros((2, 3, 4), np.int32), np.zeros((2, 3, 4, 5), np.float32), axis=axis)


# Keras's own cross-entropy tests at alpha = 0 -----------------------------
# Cases of keras/src/losses/losses_test.py (Keras 3.15), by test name, with
# their inputs and Keras's expected values; each also checked against the
# installed Keras, so that a change in Keras that we do not follow shows up.

LOGITS = np.array([[8.0, 1.0, 1.0], [0.0, 9.0, 1.0], [2.0, 3.0, 5.0]], np.float32)
LABELS = np.array([[0], [1], [2]])


def both(case, reduction="sum_over_batch_size", **kwargs):
    return (
        case.zero(reduction=reduction, **kwargs),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction, **kwargs),
    )


def assert_conforms(case, args, expected, decimal=3, **loss_kwargs):
    ours, theirs = both(case, **loss_kwargs)
    got = numpy(ours(*args[:2], **args[2]))
    np.testing.assert_allclose(got, numpy(theirs(*args[:2], **args[2])), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got, expected, atol=10**-decimal)


@every_loss
def test_keras_sparse_all_correct_unweighted(case):
    logits = np.array([[10.0, 0, 0], [0, 10.0, 0], [0, 0, 10.0]], np.float32)
    assert_conforms(case, (LABELS, logits, {}), 0.0)


@every_loss
def test_keras_sparse_unweighted(case):
    assert_conforms(case, (np.array([0, 1, 2]), LOGITS, {}), 0.0573)


@every_loss
def test_keras_sparse_scalar_weighted(case):
    assert_conforms(case, (LABELS, LOGITS, {"sample_weight": 2.3}), 0.1317)


@every_loss
def test_keras_sparse_sample_weighted(case):
    weights = np.array([[1.2], [3.4], [5.6]])
    assert_conforms(case, (LABELS, LOGITS, {"sample_weight": weights}), 0.31829)


@every_loss
def test_keras_sparse_no_reduction(case):
    assert_conforms(case, (LABELS, LOGITS, {}), [0.001822, 0.000459, 0.169846], 5, reduction=None)


@every_loss
@pytest.mark.parametrize("labels", [np.array([[-1, 2]]), np.array([[[-1], [2]]])])
def test_keras_sparse_ignore_class(case, labels):
    logits = np.array([[[0.854, 0.698, 0.598], [0.088, 0.86, 0.018]]], np.float32)
    assert_conforms(
        case, (labels, logits, {}), [[0.0, 1.480129]], 5, reduction=None, ignore_class=-1
    )


def segmentation_maps(num_classes):
    labels = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 1]])
    if num_classes == 3:
        labels[0, 2] = 2
    probabilities = np.eye(num_classes)[labels]
    probabilities[0, 3] = [0.2, 0.8, 0.0][:num_classes] if num_classes == 3 else [0.2, 0.8]
    probabilities[3, 3] = [0.6, 0.4, 0.0][:num_classes] if num_classes == 3 else [0.6, 0.4]
    return labels, probabilities


@every_loss
@pytest.mark.filterwarnings("ignore:divide by zero")
@pytest.mark.parametrize("num_classes", [2, 3])
def test_keras_sparse_segmentation(case, num_classes):
    """test_binary_segmentation and test_multi_class_segmentation, on log-probabilities.

    Keras's cases take probabilities; as logits their logs (with -inf for
    the zeros) have the same softmax, so the values are Keras's.
    """
    labels, probabilities = segmentation_maps(num_classes)
    logits = np.log(probabilities).astype(np.float32)
    expected = (-np.log(0.2) - np.log(0.4)) / 16.0  # 16 pixels
    got = numpy(case.zero()(labels, logits))
    theirs = numpy(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    np.testing.assert_allclose(got, theirs, rtol=1e-4)


@every_loss
def test_keras_categorical_one_hot_cases(case):
    """CategoricalCrossentropyTest: unweighted, scalar- and sample-weighted, no reduction."""
    one_hot = np.eye(3, dtype=np.float32)
    theirs = keras.losses.CategoricalCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(
        numpy(case.zero(reduction=None)(one_hot, LOGITS)),
        numpy(theirs(one_hot, LOGITS)),
        rtol=1e-5,
        atol=1e-7,
    )
    for weight, expected in [(None, 0.0573), (2.3, 0.1317), (np.array([1.2, 3.4, 5.6]), 0.31829)]:
        got = numpy(case.zero()(one_hot, LOGITS, sample_weight=weight))
        np.testing.assert_allclose(got, expected, atol=1e-3)
