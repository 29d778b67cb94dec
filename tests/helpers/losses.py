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
    """One loss of the package, at the parameter value the tests use: the one list of them.

    A new loss gets a line in `CASES` and every per-loss test takes it
    (ArcFace's `easy_margin` has its own tests in test_losses).

    name: The loss's name in test ids.
    cls: The `keras.losses.Loss` class.
    of: The loss function (``wsoftmax``, ...).
    parameter: The keyword of its margin parameter (``alpha``, ``margin``).
    value: The parameter's value in the tests.
    bad: A value outside the parameter's range.
    reference_target: ``value -> (f, f')``, the float64 target of
        `keras_wsoftmax.reference` at the default scale.
    bounded: Whether the logits must be scaled cosines within +-DEFAULT_SCALE.
    """

    name: str
    cls: Any
    of: Any
    parameter: str
    value: float
    bad: float
    reference_target: Any
    bounded: bool

    @property
    def function(self):
        """``(y_true, y_pred, ignore_class=None, axis=-1)`` -> per-sample losses."""
        return partial(self.of, **{self.parameter: self.value})

    def loss(self, **kwargs):
        """The Loss object (kwargs: ignore_class, reduction, axis, scale, ...)."""
        return self.cls(**{self.parameter: self.value}, **kwargs)

    def zero(self, **kwargs):
        """The same loss at zero margin, which is Keras's sparse cross-entropy."""
        return self.cls(**{self.parameter: 0.0}, **kwargs)

    @property
    def target(self):
        return self.reference_target(self.value)

    def reference(self, logits, labels):
        return reference.margin_loss(logits, labels, self.target[0])

    def reference_grad(self, logits, labels):
        return reference.margin_loss_grad(logits, labels, *self.target)


S = DEFAULT_SCALE
CASES = [
    Case("wsoftmax", WSoftmax, wsoftmax, "alpha", 0.3, 1.5, reference.wsoftmax_target, False),
    Case(
        "cosface",
        CosFace,
        cosface,
        "margin",
        0.35,
        -0.1,
        partial(reference.cosface_target, scale=S),
        True,
    ),
    Case(
        "arcface",
        ArcFace,
        arcface,
        "margin",
        0.5,
        3.5,
        partial(reference.arcface_target, scale=S),
        True,
    ),
]

every_loss = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
cosine_losses = pytest.mark.parametrize(
    "case", [c for c in CASES if c.bounded], ids=[c.name for c in CASES if c.bounded]
)
