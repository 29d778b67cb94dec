"""The package's losses as test cases: each with its function, its class, zero margin, reference."""

from functools import partial
from typing import Any, NamedTuple

import pytest

from keras_wsoftmax import (
    DEFAULT_SCALE,
    ArcFace,
    CosFace,
    WSoftmax,
    arcface,
    cosface,
    reference,
    wsoftmax,
)


class Case(NamedTuple):
    """One loss with fixed parameters (ArcFace's `easy_margin` has its own tests in test_losses).

    function: ``(y_true, y_pred, ignore_class=None, axis=-1)`` -> per-sample losses.
    loss: ``(**kwargs)`` -> the Loss object (kwargs: ignore_class, reduction, axis, ...).
    zero: The same loss at zero margin, which is Keras's sparse cross-entropy.
    target: The float64 ``(f, f')`` of `keras_wsoftmax.reference`.
    bounded: Whether the logits must be scaled cosines within +-DEFAULT_SCALE.
    """

    name: str
    function: Any
    loss: Any
    zero: Any
    target: tuple
    bounded: bool

    def reference(self, logits, labels):
        return reference.margin_loss(logits, labels, self.target[0])

    def reference_grad(self, logits, labels):
        return reference.margin_loss_grad(logits, labels, *self.target)


S = DEFAULT_SCALE
CASES = [
    Case(
        "wsoftmax",
        partial(wsoftmax, alpha=0.3),
        partial(WSoftmax, 0.3),
        partial(WSoftmax, 0.0),
        reference.wsoftmax_target(0.3),
        False,
    ),
    Case(
        "cosface",
        partial(cosface, margin=0.35),
        partial(CosFace, 0.35),
        partial(CosFace, 0.0),
        reference.cosface_target(0.35, S),
        True,
    ),
    Case(
        "arcface",
        partial(arcface, margin=0.5),
        partial(ArcFace, 0.5),
        partial(ArcFace, 0.0),
        reference.arcface_target(0.5, S),
        True,
    ),
]

every_loss = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
