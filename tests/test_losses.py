"""The contract every loss of the package keeps, against float64 references and Keras's own loss;
then what only the cosine losses (CosFace, ArcFace) have: the scale check, ArcFace's switch."""

import math

import keras
import numpy as np
import pytest

from keras_wsoftmax import (
    DEFAULT_SCALE,
    ArcFace,
    CosFace,
    WSoftmaxHead,
    arcface,
    reference,
    wsoftmax,
)
from keras_wsoftmax._margin import MarginLoss
from keras_wsoftmax.arcface import SIN_FLOOR
from tests.helpers.backends import compiled, grad_of_sum
from tests.helpers.blobs import NUM_FEATURES, blobs
from tests.helpers.losses import cosine_losses, every_loss

S = DEFAULT_SCALE
REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def cosines_case(rng, shape):
    """Scaled cosines in [-S, S], with some targets at exactly +S and -S and near them."""
    logits = (S * rng.uniform(-1.0, 1.0, shape)).astype(np.float32)
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    flat = logits.reshape(-1, shape[-1])
    flat_labels = labels.reshape(-1)
    for row, value in zip(range(4), [S, -S, S * (1 - 2**-20), -S * (1 - 2**-20)], strict=True):
        flat[row, flat_labels[row]] = value
    return flat.reshape(shape), labels


@every_loss
@pytest.mark.parametrize("shape", [(64, 10), (3, 5, 7, 6)])
def test_values_match_float64_reference(case, shape):
    logits, labels = cosines_case(np.random.default_rng(0), shape)
    losses = case.function(labels, logits)
    assert tuple(losses.shape) == shape[:-1]
    np.testing.assert_allclose(numpy(losses), case.reference(logits, labels), rtol=1e-5, atol=1e-5)


@every_loss
@pytest.mark.parametrize("jit", [False, True])
def test_gradients_match_float64_reference(case, jit):
    logits, labels = cosines_case(np.random.default_rng(1), (48, 9))
    ids = keras.ops.convert_to_tensor(labels)
    grad = grad_of_sum(lambda z: case.function(ids, z), logits, jit)
    assert np.isfinite(grad).all()
    # ArcFace's slope near cos = 1 is large (sin(m) / sin(theta)): relative to it.
    want = case.reference_grad(logits, labels)
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-6 * max(1.0, np.abs(want).max()))


@every_loss
def test_never_below_cross_entropy(case):
    logits, labels = cosines_case(np.random.default_rng(2), (256, 7))
    ours = numpy(case.function(labels, logits))
    theirs = reference.cross_entropy(logits, labels)
    assert np.all(ours >= theirs - 1e-5 * np.maximum(1.0, theirs))


@every_loss
@pytest.mark.parametrize("shape", [(32, 7), (2, 4, 4, 5)])
def test_label_layouts_agree(case, shape):
    logits, labels = cosines_case(np.random.default_rng(3), shape)
    sparse = numpy(case.function(labels, logits))
    one_hot = np.eye(shape[-1], dtype=np.float32)[labels]
    np.testing.assert_allclose(numpy(case.function(one_hot, logits)), sparse, rtol=1e-6)
    np.testing.assert_array_equal(numpy(case.function(labels[..., None], logits)), sparse)


@every_loss
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_class", [None, -1, 3])
def test_zero_margin_is_keras_sparse_cross_entropy(case, reduction, ignore_class):
    rng = np.random.default_rng(4)
    logits, labels = cosines_case(rng, (4, 5, 5, 6))
    if ignore_class is not None:
        labels = np.where(rng.random(labels.shape) < 0.3, ignore_class, labels)
    sample_weight = rng.random(labels.shape).astype(np.float32)
    ours = case.zero(ignore_class=ignore_class, reduction=reduction)
    theirs = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=ignore_class, reduction=reduction
    )
    for weight in (None, sample_weight):
        np.testing.assert_allclose(
            numpy(ours(labels, logits, sample_weight=weight)),
            numpy(theirs(labels, logits, sample_weight=weight)),
            rtol=1e-5,
            atol=1e-5,
        )


@every_loss
@pytest.mark.parametrize("ignore_class", [None, 2])
def test_weighted_mean_with_margin_matches_reference(case, ignore_class):
    rng = np.random.default_rng(5)
    logits, labels = cosines_case(rng, (50, 5))
    if ignore_class is not None:
        labels[::3] = ignore_class
    weight = rng.random(50).astype(np.float32)
    value = case.loss(ignore_class=ignore_class)(labels, logits, sample_weight=weight)
    kept = np.ones(50, bool) if ignore_class is None else labels != ignore_class
    per_sample = np.where(kept, case.reference(logits, np.where(kept, labels, 0)), 0.0) * weight
    np.testing.assert_allclose(numpy(value), per_sample.sum() / kept.sum(), rtol=1e-5)


@every_loss
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_logits_are_computed_in_float32(case, dtype):
    logits, labels = cosines_case(np.random.default_rng(6), (64, 10))
    half = keras.ops.cast(logits, dtype)
    rounded = numpy(keras.ops.cast(half, "float32"))
    losses = case.function(labels, half)
    assert keras.backend.standardize_dtype(losses.dtype) == "float32"
    np.testing.assert_allclose(numpy(losses), case.reference(rounded, labels), rtol=1e-5, atol=1e-5)


@every_loss
@pytest.mark.parametrize("bad_label", [5, -1])
def test_bad_labels_raise_eagerly_and_are_nan_compiled(case, bad_label):
    logits = np.zeros((4, 5), np.float32)
    labels = np.array([0, 1, bad_label, 2], np.int32)
    with pytest.raises(ValueError, match=rf"Label {bad_label}\b.*index \(2,\).*\[0, 5\)"):
        case.loss()(labels, logits)
    losses = numpy(
        compiled(lambda y, z: case.function(y, z))(
            keras.ops.convert_to_tensor(labels), keras.ops.convert_to_tensor(logits)
        )
    )
    assert np.isnan(losses[2]) and np.isfinite(losses[[0, 1, 3]]).all()
    one_hot = np.eye(5, dtype=np.float32)[[0, 1, 2, 3]]
    one_hot[1] = 0.0
    with pytest.raises(ValueError, match=r"one-hot label at index \(1,\)"):
        case.function(one_hot, logits)


@every_loss
def test_ignore_class_applies_to_one_hot_rows(case):
    logits, labels = cosines_case(np.random.default_rng(10), (30, 4))
    one_hot = np.eye(4, dtype=np.float32)[labels]
    loss = case.loss(ignore_class=1)
    np.testing.assert_allclose(numpy(loss(one_hot, logits)), numpy(loss(labels, logits)), rtol=1e-6)


@every_loss
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_loss_object_under_mixed_precision(case, policy):
    logits, labels = cosines_case(np.random.default_rng(11), (32, 10))
    half = policy.split("_")[1]
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        value = case.loss()(labels, keras.ops.cast(logits, half))
    finally:
        keras.config.set_dtype_policy(previous)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    rounded = numpy(keras.ops.cast(keras.ops.cast(logits, half), "float32"))
    np.testing.assert_allclose(numpy(value), case.reference(rounded, labels).mean(), rtol=1e-5)


@every_loss
def test_ignore_class_label_is_not_an_error_but_others_are(case):
    logits = np.zeros((3, 5), np.float32)
    losses = numpy(case.function(np.array([0, 255, 4]), logits, ignore_class=255))
    expected = case.reference(logits, np.array([0, 0, 4]))
    np.testing.assert_allclose(losses, [expected[0], 0.0, expected[2]], rtol=1e-6)
    with pytest.raises(ValueError, match=r"Label -1\b"):
        case.function(np.array([0, -1, 255]), logits, ignore_class=255)


@every_loss
@pytest.mark.parametrize("row", [[0, 0, 0], [1, 1, 0], [0.5, 0.5, 0], [0, 2, 0]])
def test_rows_that_are_not_one_hot_raise_eagerly_and_are_nan_compiled(case, row):
    labels = np.array([[1, 0, 0], row, [0, 0, 1]], np.float32)
    logits = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match=r"one-hot label at index \(1,\).*not one-hot"):
        case.function(labels, logits)
    losses = numpy(
        compiled(lambda y, z: case.function(y, z))(
            keras.ops.convert_to_tensor(labels), keras.ops.convert_to_tensor(logits)
        )
    )
    assert np.isnan(losses[1]) and np.isfinite(losses[[0, 2]]).all()


@every_loss
def test_non_integer_class_id_raises_eagerly(case):
    with pytest.raises(ValueError, match=r"Label 1.5"):
        case.function(np.array([0.0, 1.5]), np.zeros((2, 3), np.float32))


@every_loss
@pytest.mark.parametrize(
    "labels_shape, logits_shape",
    [((8,), (9, 4)), ((8, 2), (8, 4)), ((8, 4, 1), (8, 4)), ((2, 3), (2, 4, 4, 5))],
)
def test_label_and_logit_shape_mismatch_names_both_shapes(case, labels_shape, logits_shape):
    labels = np.zeros(labels_shape, np.int32)
    with pytest.raises(ValueError) as error:
        case.function(labels, np.zeros(logits_shape, np.float32))
    assert str(labels_shape) in str(error.value) and str(logits_shape) in str(error.value)


@every_loss
@pytest.mark.parametrize("logits_shape", [(4, 1), (4,), (2, 3, 1)])
def test_fewer_than_two_classes_or_rank_one_is_rejected(case, logits_shape):
    with pytest.raises(ValueError, match=r"C >= 2|rank >= 2"):
        case.function(np.zeros(logits_shape[:-1], np.int32), np.zeros(logits_shape, np.float32))


@every_loss
def test_config_and_keras_file_round_trip(case, tmp_path):
    loss = case.loss(ignore_class=255, reduction="sum", name="margin", axis=1)
    config = loss.get_config()
    assert config[case.parameter] == case.value
    assert (config["ignore_class"], config["axis"], config["reduction"]) == (255, 1, "sum")
    revived = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(revived) is type(loss) and revived.get_config() == config
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((NUM_FEATURES,)), WSoftmaxHead(5, units=8)])
    model.compile("adam", loss=case.loss(ignore_class=-1))
    x, y = blobs(64)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")  # no custom_objects
    assert type(restored.loss) is type(model.loss)
    assert restored.loss.get_config() == model.loss.get_config()
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_margin_loss_without_its_fused_target_cannot_be_made():
    """`MarginLoss.fused_target` is abstract: a loss class that forgets it fails at once."""

    class Forgetful(MarginLoss):
        function = staticmethod(wsoftmax)
        parameters = ()

        def __init__(self):
            super().__init__(None, "sum_over_batch_size", "forgetful", None, -1)

    with pytest.raises(TypeError, match="fused_target"):
        Forgetful()


@every_loss
def test_tensor_parameter_gets_its_gradient(case):
    logits, labels = cosines_case(np.random.default_rng(7), (12, 6))
    grad = grad_of_sum(
        lambda p: case.function(labels, logits, **{case.parameter: p[0]}), np.array([case.value])
    )
    # Central difference of the float64 reference, through the case's target.
    step = 1e-5
    up = reference.margin_loss(logits, labels, case.reference_target(case.value + step)[0]).sum()
    down = reference.margin_loss(logits, labels, case.reference_target(case.value - step)[0]).sum()
    np.testing.assert_allclose(grad, [(up - down) / (2 * step)], rtol=1e-3)


@every_loss
def test_tensor_parameter_out_of_range_raises_eagerly_and_is_nan_compiled(case):
    logits, labels = cosines_case(np.random.default_rng(8), (6, 4))
    bad_tensor = keras.ops.convert_to_tensor(case.bad)
    with pytest.raises(ValueError, match=rf"{case.parameter}={case.bad}"):
        case.function(labels, logits, **{case.parameter: bad_tensor})
    losses = compiled(lambda y, z, p: case.function(y, z, **{case.parameter: p}))(
        keras.ops.convert_to_tensor(labels), keras.ops.convert_to_tensor(logits), bad_tensor
    )
    assert np.isnan(numpy(losses)).all()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: CosFace(-0.1), r"margin must be a real number with 0 <= margin < inf"),
        (lambda: CosFace(math.nan), r"margin=nan"),
        (lambda: ArcFace(math.pi), r"0 <= margin < pi; received margin=3.14"),
        (lambda: ArcFace("0.5"), r"received margin='0.5' of type str"),
        (lambda: ArcFace(scale=0.0), r"scale must be a finite number > 0; received scale=0.0"),
        (lambda: CosFace(scale=math.inf), r"scale=inf"),
        (lambda: CosFace(scale=True), r"scale=True of type bool"),
    ],
)
def test_bad_parameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# The cosine losses: the scale -------------------------------------------------


@cosine_losses
def test_logits_beyond_the_scale_are_named_eagerly_and_nan_compiled(case):
    """A head of scale 30 under a loss of scale 16: its target logits pass 16."""
    logits = np.array([[25.0, 3.0, 1.0], [10.0, 2.0, 1.0]], np.float32)
    labels = np.array([0, 0], np.int32)
    with pytest.raises(ValueError, match=r"target logit 25.0 at index \(0,\).*\[-16, 16\]"):
        case.loss()(labels, logits)
    losses = numpy(
        compiled(lambda y, z: case.function(y, z))(
            keras.ops.convert_to_tensor(labels), keras.ops.convert_to_tensor(logits)
        )
    )
    assert np.isnan(losses[0]) and np.isfinite(losses[1])
    # Within float rounding of the scale, and at the scale of the loss, it is a cosine.
    assert np.isfinite(numpy(case.loss()(labels, logits * np.float32(16.1 / 25.0))))
    assert np.isfinite(numpy(case.loss(scale=30.0)(labels, logits)))


@cosine_losses
@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_an_infinite_target_is_beyond_any_scale(case, value):
    logits = np.array([[value, 1.0, 2.0]], np.float32)
    with pytest.raises(ValueError, match=r"target logit -?inf"):
        case.loss()(np.array([0]), logits)


# ArcFace's switch and its gradient at the ends ------------------------------


def test_sin_floor_is_the_references():
    assert SIN_FLOOR == reference.SIN_FLOOR
    # The smallest sine of a float32 cosine below 1.
    below_one = np.nextafter(np.float32(1.0), np.float32(0.0))
    assert math.isclose(
        float(np.sqrt(np.float32(1.0) - below_one * below_one)), SIN_FLOOR, rel_tol=1e-6
    )


@pytest.mark.parametrize("easy_margin", [False, True])
@pytest.mark.parametrize("jit", [False, True])
def test_arcface_gradient_is_finite_at_cosine_plus_and_minus_one(easy_margin, jit):
    logits = np.array([[S, 0.0, -3.0], [-S, 2.0, 1.0], [0.0, 0.0, 0.0]], np.float32)
    labels = keras.ops.convert_to_tensor(np.array([0, 0, 1], np.int32))
    grad = grad_of_sum(lambda z: arcface(labels, z, easy_margin=easy_margin), logits, jit)
    assert np.isfinite(grad).all()
    want = reference.margin_loss_grad(
        logits, numpy(labels), *reference.arcface_target(0.5, S, easy_margin)
    )
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_arcface_gradient_is_finite_for_dead_and_aligned_features(jit):
    """Through the head: an all-zero ReLU feature vector, and one equal to its class's weights."""
    head = WSoftmaxHead(3, units=4, activation=None, use_bias=False)
    head.build((None, 4))
    head.kernel.assign(np.eye(4, dtype=np.float32))
    classifier = np.random.default_rng(9).normal(size=(4, 3)).astype(np.float32)
    head.classifier.assign(classifier)
    x = np.stack([np.zeros(4), classifier[:, 0], -classifier[:, 1]]).astype(np.float32)
    labels = keras.ops.convert_to_tensor(np.array([2, 0, 1], np.int32))
    grad = grad_of_sum(lambda inputs: arcface(labels, head(inputs)), x, jit)
    assert np.isfinite(grad).all()


@pytest.mark.parametrize("jit", [False, True])
def test_arcface_easy_margin_matches_reference(jit):
    logits, labels = cosines_case(np.random.default_rng(12), (64, 7))
    ids = keras.ops.convert_to_tensor(labels)
    target = reference.arcface_target(0.5, S, easy_margin=True)
    per_sample = ArcFace(0.5, easy_margin=True, reduction=None)
    np.testing.assert_allclose(
        numpy(per_sample(labels, logits)),
        reference.margin_loss(logits, labels, target[0]),
        rtol=1e-5,
        atol=1e-5,
    )
    grad = grad_of_sum(lambda z: arcface(ids, z, easy_margin=True), logits, jit)
    want = reference.margin_loss_grad(logits, labels, *target)
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-6 * max(1.0, np.abs(want).max()))
    assert ArcFace(easy_margin=True).get_config()["easy_margin"] is True


def test_arcface_target_falls_with_the_angle_and_switches_as_documented():
    theta = np.linspace(0.0, math.pi, 2001)
    z_y = (S * np.cos(theta)).astype(np.float32)
    logits = np.stack([z_y, np.zeros_like(z_y)], axis=1)
    labels = np.zeros(len(theta), np.int32)
    for easy in (False, True):
        losses = numpy(arcface(labels, logits, 0.5, easy_margin=easy))
        np.testing.assert_allclose(
            losses, reference.arcface(logits, labels, S, 0.5, easy), rtol=1e-5, atol=1e-5
        )
        if not easy:  # the default's target never rises with the angle: the loss never falls
            assert np.all(np.diff(losses) >= -1e-5)
    # The default's step at theta + m = pi: s (1 - cos m - m sin m) lower on the far side.
    value, _ = reference.arcface_target(0.5, S)
    switch = S * math.cos(math.pi - 0.5)
    step = value(np.array([switch - 1e-9]))[0] - value(np.array([switch + 1e-9]))[0]
    assert step == pytest.approx(S * (1 - math.cos(0.5) - 0.5 * math.sin(0.5)), abs=1e-6)
    assert step < 0
