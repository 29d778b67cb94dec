"""Property tests of the loss over random shapes, dtypes, alphas, label layouts and magnitudes."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_wsoftmax import reference, wsoftmax

EXAMPLES = settings(max_examples=15, deadline=None)


@st.composite
def cases(draw):
    """Logits, labels in one of the three layouts, and the logits as the loss sees them."""
    batch_shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    num_classes = draw(st.integers(2, 20))
    dtype = draw(st.sampled_from(["float32", "float16", "bfloat16"]))
    scale = draw(st.sampled_from([1e-3, 1.0, 50.0, 1e4]))
    layout = draw(st.sampled_from(["ids", "column", "one_hot"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = (rng.uniform(-1, 1, batch_shape + (num_classes,)) * scale).astype(np.float32)
    logits = keras.ops.cast(logits, dtype)
    seen = keras.ops.convert_to_numpy(keras.ops.cast(logits, "float32"))
    ids = rng.integers(0, num_classes, batch_shape)
    labels = {"ids": ids, "column": ids[..., None], "one_hot": np.eye(num_classes)[ids]}[layout]
    return logits, labels, ids, seen


def numpy_losses(labels, logits, alpha):
    return keras.ops.convert_to_numpy(wsoftmax(labels, logits, alpha))


@EXAMPLES
@given(case=cases(), alpha=st.floats(0.0, 0.999))
def test_finite_non_negative_and_as_the_reference(case, alpha):
    logits, labels, ids, seen = case
    losses = numpy_losses(labels, logits, alpha)
    assert losses.shape == ids.shape and losses.dtype == np.float32
    assert np.all(np.isfinite(losses)) and np.all(losses >= 0)
    atol = 8 * np.finfo(np.float32).eps * max(1.0, float(np.abs(seen).max()))
    np.testing.assert_allclose(losses, reference.wsoftmax(seen, ids, alpha), rtol=1e-5, atol=atol)


@EXAMPLES
@given(case=cases())
def test_alpha_zero_is_cross_entropy(case):
    logits, labels, ids, seen = case
    atol = 8 * np.finfo(np.float32).eps * max(1.0, float(np.abs(seen).max()))
    np.testing.assert_allclose(
        numpy_losses(labels, logits, 0.0), reference.cross_entropy(seen, ids), rtol=1e-5, atol=atol
    )


@EXAMPLES
@given(case=cases(), alphas=st.lists(st.floats(0.0, 0.999), min_size=2, max_size=4))
def test_non_decreasing_in_alpha(case, alphas):
    logits, labels, _, _ = case
    values = [numpy_losses(labels, logits, alpha) for alpha in sorted(alphas)]
    # Up to 2 units in the last place: the backends' float32 softplus is not
    # monotone to the last bit (JAX: softplus(0.51410574) < softplus(0.5141057)).
    for lower, higher in zip(values, values[1:], strict=False):
        assert np.all(higher >= lower - 2 * np.spacing(lower))


@EXAMPLES
@given(case=cases(), alpha=st.floats(0.0, 0.999), seed=st.integers(0, 2**32 - 1))
def test_each_loss_depends_on_its_own_sample_only(case, alpha, seed):
    logits, _, ids, _ = case
    logits = keras.ops.reshape(logits, (-1, logits.shape[-1]))
    ids = ids.reshape(-1)
    together = numpy_losses(ids, logits, alpha)
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled = numpy_losses(ids[order], keras.ops.take(logits, order, axis=0), alpha)
    # Equal up to the last bit or two: SIMD reductions round by position.
    tight = 4 * np.finfo(np.float32).eps
    np.testing.assert_allclose(shuffled, together[order], rtol=tight, atol=tight)
    np.testing.assert_allclose(
        numpy_losses(ids[:1], logits[:1], alpha), together[:1], rtol=tight, atol=tight
    )


@EXAMPLES
@given(case=cases(), bad=st.sampled_from([-1, -7, 20, 1000, 0.5]))
def test_labels_that_are_not_class_ids_are_named(case, bad):
    logits, _, ids, _ = case
    labels = ids.astype(np.float64)
    labels.flat[-1] = bad if bad != 20 else logits.shape[-1]
    with pytest.raises(ValueError, match=r"is not a class id"):
        wsoftmax(labels, logits, 0.2)
