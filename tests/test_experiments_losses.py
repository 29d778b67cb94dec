"""The studies' loss registry (`experiments.losses`) and the two losses it adds (`experiments.peers`)."""

import keras
import numpy as np
import pytest

from experiments import losses, peers
from keras_wsoftmax import ArcFace, CosFace, WSoftmax, reference

SCALE = 16.0
LABELS = np.array([0, 1, 2, 3, 4, 0, 1, 2], dtype=np.int32)


def cosine_logits(shape, seed=0):
    """Scaled cosines spread over (-1, 1), with a few at the ends."""
    cos = np.random.default_rng(seed).uniform(-1, 1, shape)
    cos[0, 0], cos[1, 1] = 1.0, -1.0
    return (SCALE * cos).astype(np.float32)


def test_label_smoothing_matches_reference():
    logits = cosine_logits((8, 5))
    got = keras.ops.convert_to_numpy(peers.label_smoothing(LABELS, logits, 0.1))
    np.testing.assert_allclose(got, reference.label_smoothing(logits, LABELS, 0.1), rtol=1e-5)


def test_literal_wsoftmax_matches_reference():
    logits = cosine_logits((8, 5))
    got = keras.ops.convert_to_numpy(peers.literal_wsoftmax(LABELS, logits, 0.2))
    np.testing.assert_allclose(got, reference.literal_wsoftmax(logits, LABELS, 0.2), rtol=1e-5)


@pytest.mark.parametrize(
    "key, kind, expected",
    [
        ("cosface", CosFace, lambda z, y: reference.cosface(z, y, SCALE, 0.35)),
        ("cosface-0.2", CosFace, lambda z, y: reference.cosface(z, y, SCALE, 0.2)),
        ("arcface", ArcFace, lambda z, y: reference.arcface(z, y, SCALE, 0.5)),
        ("arcface-0.3", ArcFace, lambda z, y: reference.arcface(z, y, SCALE, 0.3)),
        (
            "label-smoothing",
            peers.SparseLabelSmoothing,
            lambda z, y: reference.label_smoothing(z, y, 0.1),
        ),
        ("wsoftmax-0.35", WSoftmax, lambda z, y: reference.wsoftmax(z, y, 0.35)),
        ("literal-0.2", peers.LiteralWSoftmax, lambda z, y: reference.literal_wsoftmax(z, y, 0.2)),
        ("cross-entropy", keras.losses.SparseCategoricalCrossentropy, reference.cross_entropy),
    ],
)
def test_registry_builds_the_public_losses_with_the_studied_parameters(key, kind, expected):
    logits = cosine_logits((8, 5), seed=1)
    loss = losses.make(key, SCALE)
    assert type(loss) is kind
    got = float(keras.ops.convert_to_numpy(loss(LABELS, logits)))
    np.testing.assert_allclose(got, expected(logits, LABELS).mean(), rtol=1e-5)


def test_registry_passes_the_head_scale_on():
    assert losses.make("arcface", 30.0).scale == 30.0 and losses.make("cosface", 8.0).scale == 8.0


@pytest.mark.parametrize(
    "key, label, parameter",
    [
        ("wsoftmax-0.2", "W-Softmax 0.2", 0.2),
        ("cosface", "CosFace m=0.35", 0.35),
        ("arcface", "ArcFace m=0.5", 0.5),
        ("arcface-0.3", "ArcFace m=0.3", 0.3),
        ("label-smoothing", "label smoothing 0.1", 0.1),
        ("literal-0.2", "literal bias 0.2", 0.2),
        ("cross-entropy", "cross-entropy", 0.0),
    ],
)
def test_labels_and_parameters(key, label, parameter):
    assert losses.label(key) == label and losses.parameter(key) == parameter


@pytest.mark.parametrize(
    "key", ["sphereface", "wsoftmax", "literal", "cosface-x", "cross-entropy-1"]
)
def test_registry_names_what_it_does_not_know(key):
    with pytest.raises(ValueError, match=f"unknown loss '{key}'"):
        losses.make(key)
