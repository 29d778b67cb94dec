import keras
import numpy as np
import pytest

from keras_wsoftmax import WSoftmaxHead, recommended_scale, recommended_units
from tests.helpers.blobs import blob_model, blobs


def numpy_head(head, inputs):
    kernel, *rest = [keras.ops.convert_to_numpy(w).astype(np.float64) for w in head.weights]
    bias, classifier = rest if head.use_bias else (0.0, rest[0])
    features = np.maximum(inputs.astype(np.float64) @ kernel + bias, 0.0)
    if not head.normalize:
        logits = features @ classifier
    else:
        h = features / np.linalg.norm(features, axis=-1, keepdims=True)
        w = classifier / np.linalg.norm(classifier, axis=0, keepdims=True)
        logits = head.scale * h @ w
    # Each class's K columns side by side: its logit is the best of them.
    grouped = logits.reshape(logits.shape[:-1] + (head.num_classes, head.subcenters))
    return grouped.max(axis=-1), features


@pytest.mark.parametrize("subcenters", [1, 3])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("shape", [(16, 12), (2, 5, 5, 12)])
def test_logits_are_scaled_cosines_or_dot_products(normalize, shape, subcenters):
    inputs = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    head = WSoftmaxHead(
        7, units=9, normalize=normalize, scale=12.0, bias_initializer="ones", subcenters=subcenters
    )
    logits, features = head(inputs, return_features=True)
    expected_logits, expected_features = numpy_head(head, inputs)
    assert tuple(logits.shape) == shape[:-1] + (7,)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(features), expected_features, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(logits), expected_logits, rtol=1e-4, atol=1e-4
    )
    if normalize:
        assert np.abs(keras.ops.convert_to_numpy(logits)).max() <= 12.0 + 1e-4
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(head.features(inputs)), keras.ops.convert_to_numpy(features)
    )


@pytest.mark.parametrize("normalize", [True, False])
def test_logit_factors_multiply_to_the_logits(normalize):
    """The seam a fused loss reads: ``scale * (a @ b)`` (or ``a @ b``) is `logits`."""
    features = np.random.default_rng(1).normal(size=(6, 9)).astype(np.float32)
    head = WSoftmaxHead(7, units=9, normalize=normalize, scale=12.0)
    head.build((None, 4))
    a, b, scale = head.logit_factors(features)
    a, b = keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
    assert a.shape == (6, 9) and b.shape == (9, 7)
    if normalize:
        assert scale == 12.0 and a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(b, axis=0), 1.0, rtol=1e-6)
    else:
        assert scale is None
    product = a @ b if scale is None else scale * (a @ b)
    np.testing.assert_allclose(
        product, keras.ops.convert_to_numpy(head.logits(features)), rtol=1e-5, atol=1e-5
    )


def test_subcenters_are_columns_of_the_classifier_and_saved():
    head = WSoftmaxHead(5, units=4, subcenters=3)
    head.build((None, 6))
    assert tuple(head.classifier.shape) == (4, 15)
    config = head.get_config()
    assert config["subcenters"] == 3
    assert WSoftmaxHead.from_config(config).subcenters == 3
    # A head saved before sub-centers existed has none in its config: one per class.
    del config["subcenters"]
    assert WSoftmaxHead.from_config(config).subcenters == 1


def test_a_subcenter_model_round_trips_through_a_keras_file(tmp_path):
    model = blob_model(subcenters=3)
    x, _ = blobs(16)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert restored.layers[-1].subcenters == 3
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("subcenters", [0, 2.0, True, None])
def test_bad_subcenters_are_named(subcenters):
    with pytest.raises(ValueError, match=rf"subcenters must be a positive integer.*{subcenters}"):
        WSoftmaxHead(5, subcenters=subcenters)


@pytest.mark.parametrize("num_classes", [10, 100, 1000])
def test_default_scale_is_recommended_scale_and_saved(num_classes):
    head = WSoftmaxHead(num_classes, units=8)
    assert head.scale == recommended_scale(num_classes)
    assert head.get_config()["scale"] == head.scale  # a saved head keeps its scale
    assert WSoftmaxHead(num_classes, units=8, scale=16.0).scale == 16.0


def test_dead_features_give_zero_logits():
    head = WSoftmaxHead(3, units=4, bias_initializer="zeros")
    logits = keras.ops.convert_to_numpy(head(np.zeros((1, 4), np.float32)))
    np.testing.assert_array_equal(logits, np.zeros((1, 3)))


@pytest.mark.parametrize(
    "num_classes, activation, units",
    [(10, "relu", 160), (10, None, 160), (3, "tanh", 48), (300, "sigmoid", 4096)],
)
def test_default_units_are_recommended_units(num_classes, activation, units):
    head = WSoftmaxHead(num_classes, activation=activation)
    assert head.units == units == recommended_units(num_classes, activation)
    head.build((None, 32))
    assert [tuple(w.shape) for w in head.weights] == [(32, units), (units,), (units, num_classes)]


def test_parameter_count_without_bias():
    head = WSoftmaxHead(10, units=3, use_bias=False)
    head.build((None, 20))
    assert head.count_params() == 20 * 3 + 3 * 10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 3.0}, "num_classes"),
        ({"num_classes": 10, "units": 0}, "units"),
        ({"num_classes": 10, "units": 2.5}, "units"),
        ({"num_classes": 10, "scale": 0}, "scale"),
        ({"num_classes": 10, "scale": float("inf")}, "scale"),
        ({"num_classes": 10, "activation": lambda x: x}, "units explicitly"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WSoftmaxHead(**kwargs)


def test_config_round_trip():
    head = WSoftmaxHead(
        5,
        units=8,
        activation="gelu",
        normalize=False,
        scale=20.0,
        kernel_regularizer="l2",
        classifier_initializer="he_normal",
        classifier_constraint="unit_norm",
        name="my_head",
    )
    config = head.get_config()
    restored = WSoftmaxHead.from_config(config)
    assert restored.get_config() == config
    assert config["units"] == 8 and config["activation"] == "gelu" and config["scale"] == 20.0
    revived = keras.layers.deserialize(keras.layers.serialize(head))
    assert isinstance(revived, WSoftmaxHead) and revived.get_config() == config


def test_regularizers_add_losses():
    head = WSoftmaxHead(
        4, kernel_regularizer=keras.regularizers.L2(0.1), classifier_regularizer="l1"
    )
    head(np.ones((2, 3), np.float32))
    assert len(head.losses) == 2


def test_functional_and_sequential_models_and_feature_extraction():
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    head = WSoftmaxHead(3)
    functional = keras.Model(inputs, head(hidden))
    sequential = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8), WSoftmaxHead(3)])
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    assert functional.predict(x, verbose=0).shape == (5, 3)
    assert sequential.predict(x, verbose=0).shape == (5, 3)
    backbone = keras.Model(functional.inputs, head.input)
    features = keras.ops.convert_to_numpy(head.features(backbone.predict(x, verbose=0)))
    assert features.shape == (5, head.units) and np.all(features >= 0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_cosines_finite_for_large_features(policy):
    head = WSoftmaxHead(4, units=6, dtype=policy)
    # Squared features above 65504 overflow float16: the norms must not.
    inputs = np.full((3, 5), 300.0, np.float32)
    logits = head(inputs)
    assert keras.backend.standardize_dtype(logits.dtype) == policy.split("_")[1]
    values = keras.ops.convert_to_numpy(keras.ops.cast(logits, "float32"))
    assert np.all(np.isfinite(values)) and np.abs(values).max() <= head.scale * 1.01
