import inspect

import keras
import numpy as np
import pytest

from keras_wsoftmax import min_units, recommended_scale, recommended_units
from keras_wsoftmax.sizing import SIGN_CONSTRAINED, SIGN_FREE, activation_name

# Activations that are not elementwise maps of one tensor to one of its shape.
NOT_SIZEABLE = {"glu", "threshold"}


def keras_activation_names():
    names = set()
    for name, fn in vars(keras.activations).items():
        if inspect.isfunction(fn) and name not in {"get", "serialize", "deserialize"}:
            names.add(activation_name(fn))
    return sorted(names - NOT_SIZEABLE)


def test_every_keras_activation_is_classified():
    unknown = set(keras_activation_names()) - SIGN_CONSTRAINED - SIGN_FREE
    assert not unknown, f"classify these activations in sizing.py: {unknown}"
    assert not SIGN_CONSTRAINED & SIGN_FREE


@pytest.mark.parametrize("name", keras_activation_names())
def test_classification_matches_the_activations_range(name):
    grid = np.linspace(-30.0, 30.0, 4001, dtype=np.float32).reshape(1, -1)
    values = keras.ops.convert_to_numpy(keras.activations.get(name)(grid))
    one_signed = bool(np.all(values >= 0) or np.all(values <= 0))
    assert one_signed == (name in SIGN_CONSTRAINED), (name, values.min(), values.max())


@pytest.mark.parametrize("num_classes", [2, 3, 10, 1000])
def test_min_units(num_classes):
    assert min_units(num_classes) == num_classes  # relu by default
    assert min_units(num_classes, "relu") == num_classes
    assert min_units(num_classes, keras.activations.sigmoid) == num_classes
    assert min_units(num_classes, None) == num_classes - 1
    assert min_units(num_classes, "linear") == num_classes - 1
    assert min_units(num_classes, "tanh") == num_classes - 1
    assert min_units(np.int64(num_classes), "swish") == num_classes - 1


@pytest.mark.parametrize("num_classes", [1, 0, -3, 2.0, 10.5, "10", None, True])
def test_min_units_rejects_bad_class_counts(num_classes):
    with pytest.raises(ValueError, match=r"num_classes must be an integer >= 2"):
        min_units(num_classes)


@pytest.mark.parametrize(
    "num_classes, units",
    [(2, 32), (10, 160), (100, 1600), (256, 4096), (1000, 4096), (4096, 4096), (5000, 5000)],
)
def test_recommended_units(num_classes, units):
    # 16 per class, at most 4096, never below the theorem's minimum.
    assert recommended_units(num_classes) == recommended_units(num_classes, "relu") == units
    assert recommended_units(num_classes, None) == max(
        min(16 * num_classes, 4096), min_units(num_classes, None)
    )


def test_recommended_units_never_below_min_units():
    for num_classes in [2, 3, 255, 256, 257, 4095, 4096, 4097, 10**6]:
        for activation in ["relu", None, "gelu"]:
            assert recommended_units(num_classes, activation) >= min_units(num_classes, activation)


@pytest.mark.parametrize("num_classes", [1, 2.0, "10", True])
def test_recommended_units_rejects_what_min_units_rejects(num_classes):
    with pytest.raises(ValueError, match=r"num_classes must be an integer >= 2"):
        recommended_units(num_classes)
    with pytest.raises(ValueError, match=r"units explicitly"):
        recommended_units(10, lambda x: x)


def test_min_units_rejects_unknown_activations():
    with pytest.raises(ValueError, match=r"units explicitly"):
        min_units(10, lambda x: x)


def test_theorem_constructions():
    # The sufficiency constructions of docs/theory.md, checked numerically:
    # with W = I (relu, d = C) every logit vector modulo 1 is reached by a
    # non-negative h, and with W^T = [I; 0] (linear, d = C - 1) by any h.
    rng = np.random.default_rng(0)
    num_classes = 6
    w_t = np.vstack([np.eye(num_classes - 1), np.zeros((1, num_classes - 1))])
    for target in rng.normal(size=(50, num_classes)) * 5:
        h = target - target.min()
        assert np.all(h >= 0)
        np.testing.assert_allclose(h - target, (h - target)[0])
        h = (target - target[-1])[:-1]
        np.testing.assert_allclose(w_t @ h - target, (w_t @ h - target)[0], atol=1e-12)


def test_theorem_necessity_for_non_negative_features():
    # With non-negative h and only C - 1 units, the logit directions reached
    # (modulo 1) form a cone on C - 1 generators: minus their sum is missed.
    from scipy.optimize import nnls

    rng = np.random.default_rng(1)
    num_classes = 5
    centering = np.eye(num_classes) - 1.0 / num_classes
    for _ in range(20):
        generators = centering @ rng.normal(size=(num_classes, num_classes - 1))
        missed = -generators.sum(axis=1)
        assert nnls(generators, missed)[1] > 1e-3
        reached = generators @ rng.random(num_classes - 1)
        assert nnls(generators, reached)[1] < 1e-8


# The cosines' scale ------------------------------------------------------------


@pytest.mark.parametrize(
    "classes, scale", [(2, 16.0), (10, 16.0), (99, 16.0), (100, 32.0), (300, 32.0), (10**6, 32.0)]
)
def test_recommended_scale_is_16_below_100_classes_and_32_from_100_on(classes, scale):
    assert recommended_scale(classes) == scale and type(recommended_scale(classes)) is float


@pytest.mark.parametrize("num_classes", [1, 0, 2.5, "10"])
def test_recommended_scale_rejects_bad_class_counts(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        recommended_scale(num_classes)
