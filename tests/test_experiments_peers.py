"""The studies' peer losses against their float64 NumPy references."""

import math

import keras
import numpy as np
import pytest

from experiments import peers, reference
from experiments.comparison import make_loss
from tests.helpers.backends import grad_of_sum

SCALE = 16.0


def cosine_logits(shape, seed=0):
    """Scaled cosines spread over (-1, 1), with a few at the ends."""
    cos = np.random.default_rng(seed).uniform(-1, 1, shape)
    cos[0, 0], cos[1, 1] = 1.0, -1.0
    return (SCALE * cos).astype(np.float32)


LABELS = np.array([0, 1, 2, 3, 4, 0, 1, 2], dtype=np.int32)


def test_cosface_matches_reference():
    logits = cosine_logits((8, 5))
    got = keras.ops.convert_to_numpy(peers.cosface(LABELS, logits, SCALE, 0.35))
    np.testing.assert_allclose(got, reference.cosface(logits, LABELS, SCALE, 0.35), rtol=1e-5)


def test_arcface_matches_reference_on_both_sides_of_the_fallback():
    logits = cosine_logits((8, 5))
    theta = np.arccos(np.clip(logits[np.arange(8), LABELS] / SCALE, -1, 1))
    # The draw has target angles on both sides of pi - m, so both branches are checked.
    assert (theta + 0.5 > math.pi).any() and (theta + 0.5 <= math.pi).any()
    got = keras.ops.convert_to_numpy(peers.arcface(LABELS, logits, SCALE, 0.5))
    np.testing.assert_allclose(got, reference.arcface(logits, LABELS, SCALE, 0.5), rtol=1e-5)


def test_arcface_gradient_is_finite_at_the_ends_of_the_cosine():
    logits = cosine_logits((8, 5))
    grad = grad_of_sum(lambda z: peers.arcface(LABELS, z, SCALE, 0.5), logits)
    assert np.isfinite(grad).all()


def test_label_smoothing_matches_reference():
    logits = cosine_logits((8, 5))
    got = keras.ops.convert_to_numpy(peers.label_smoothing(LABELS, logits, 0.1))
    np.testing.assert_allclose(got, reference.label_smoothing(logits, LABELS, 0.1), rtol=1e-5)


def test_literal_wsoftmax_matches_reference():
    logits = cosine_logits((8, 5))
    got = keras.ops.convert_to_numpy(peers.literal_wsoftmax(LABELS, logits, 0.2))
    np.testing.assert_allclose(got, reference.literal_wsoftmax(logits, LABELS, 0.2), rtol=1e-5)


@pytest.mark.parametrize(
    "key, expected",
    [
        ("cosface", lambda z, y: reference.cosface(z, y, SCALE, 0.35)),
        ("arcface", lambda z, y: reference.arcface(z, y, SCALE, 0.5)),
        ("label-smoothing", lambda z, y: reference.label_smoothing(z, y, 0.1)),
        ("wsoftmax-0.35", lambda z, y: reference.wsoftmax(z, y, 0.35)),
        ("cross-entropy", reference.cross_entropy),
    ],
)
def test_catalogue_builds_keras_losses_with_the_studied_parameters(key, expected):
    logits = cosine_logits((8, 5), seed=1)
    loss = make_loss(key, SCALE)
    assert isinstance(loss, keras.losses.Loss)
    got = float(keras.ops.convert_to_numpy(loss(LABELS, logits)))
    np.testing.assert_allclose(got, expected(logits, LABELS).mean(), rtol=1e-5)


def test_catalogue_names_what_it_does_not_know():
    with pytest.raises(ValueError, match="unknown loss 'sphereface'"):
        make_loss("sphereface")
