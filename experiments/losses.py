"""The studies' losses by key: one registry of what each key builds and how tables name it.

A key is a family, optionally with its parameter: ``cross-entropy``,
``wsoftmax-0.2``, ``cosface`` (m = 0.35) or ``cosface-0.2``, ``arcface``
(m = 0.5) or ``arcface-0.3``, ``label-smoothing`` (0.1) or
``label-smoothing-0.2``, ``literal-0.2`` (the paper's literal bias). Every
loss but the literal bias and label smoothing on class ids is the package's
public one (`keras_wsoftmax`) or Keras's.
"""

import importlib
from typing import Any, NamedTuple

BASELINE = "cross-entropy"


class Family(NamedTuple):
    """How a family's loss is made from its parameter (and the head's scale), and its label."""

    build: Any  # (parameter, scale) -> keras.losses.Loss
    label: Any  # parameter text -> the table's label
    default: float | str | None = None  # str: a keras_wsoftmax constant; None: key names it


def _package(name):
    """`keras_wsoftmax`'s attribute `name`, imported (with Keras) only when needed."""
    return getattr(importlib.import_module("keras_wsoftmax"), name)


def _peer(name):
    return getattr(importlib.import_module("experiments.peers"), name)


def _cross_entropy(_, scale):
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


FAMILIES = {
    BASELINE: Family(_cross_entropy, lambda _: BASELINE, 0.0),
    "wsoftmax": Family(
        lambda alpha, _: _package("WSoftmax")(alpha), lambda text: f"W-Softmax {text}"
    ),
    "cosface": Family(
        lambda m, scale: _package("CosFace")(m, scale=scale),
        lambda text: f"CosFace m={text}",
        "DEFAULT_COSFACE_MARGIN",
    ),
    "arcface": Family(
        lambda m, scale: _package("ArcFace")(m, scale=scale),
        lambda text: f"ArcFace m={text}",
        "DEFAULT_ARCFACE_MARGIN",
    ),
    "label-smoothing": Family(
        lambda smoothing, _: _peer("SparseLabelSmoothing")(smoothing),
        lambda text: f"label smoothing {text}",
        0.1,
    ),
    "literal": Family(
        lambda alpha, _: _peer("LiteralWSoftmax")(alpha), lambda t: f"literal bias {t}"
    ),
}
DEFAULT_LOSSES = [
    BASELINE,
    "wsoftmax-0.1",
    "wsoftmax-0.2",
    "wsoftmax-0.35",
    "wsoftmax-0.5",
    "cosface",
    "arcface",
    "label-smoothing",
]


def parse(key):
    """``(family, parameter text or None)`` of a key; `ValueError` naming the keys it knows."""
    for family in sorted(FAMILIES, key=len, reverse=True):  # "label-smoothing" before any "-"
        if key == family:
            if FAMILIES[family].default is None:
                break
            return family, None
        if key.startswith(family + "-") and family != BASELINE:
            text = key[len(family) + 1 :]
            try:
                float(text)
            except ValueError:
                break
            return family, text
    raise ValueError(
        f"unknown loss {key!r}: expected {BASELINE}, wsoftmax-ALPHA, cosface[-M], arcface[-M], "
        "label-smoothing[-EPS] or literal-ALPHA."
    )


def parameter(key):
    """The key's parameter as a number (the family's default where the key names none)."""
    family, text = parse(key)
    if text is not None:
        return float(text)
    default = FAMILIES[family].default
    return _package(default) if isinstance(default, str) else default


def make(key, scale=None):
    """The Keras loss a key names, for a cosine head of `scale` (default: the head's)."""
    family, _ = parse(key)
    return FAMILIES[family].build(
        parameter(key), _package("DEFAULT_SCALE") if scale is None else scale
    )


def label(key):
    """A key as a table label: ``W-Softmax 0.2``, ``CosFace m=0.35``, ..."""
    family, text = parse(key)
    return FAMILIES[family].label(f"{parameter(key):g}" if text is None else text)
