"""The chunked core (`keras_wsoftmax._fused`) against the unfused losses on the full logits."""

import numpy as np
import pytest
from keras import ops

from keras_wsoftmax import DEFAULT_SCALE, _fused, wsoftmax
from keras_wsoftmax._subcenters import class_logits
from keras_wsoftmax.loss import _target as wsoftmax_target
from tests.helpers.backends import BACKEND, grad_of_sum
from tests.helpers.losses import CASES

N, D, C = 9, 6, 24
SCALE = DEFAULT_SCALE

# Each loss of the package, and W-Softmax at alpha 0 (cross-entropy), as Loss objects
# of per-sample losses: the unfused loss, and through `fused_target` the chunked core's.
LOSSES = [(c.name, c.loss(reduction=None)) for c in CASES] + [
    ("cross-entropy", CASES[0].zero(reduction=None))
]


def inputs(cosines, seed=0, classes=C, subcenters=1):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((N, D)).astype("float32")
    b = rng.standard_normal((D, classes * subcenters)).astype("float32")
    if cosines:  # the cosine head's inputs: scaled unit features, unit class weights
        a = SCALE * a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=0, keepdims=True)
    labels = rng.integers(0, classes, N).astype("int32")
    return np.concatenate([a.ravel(), b.ravel()]), labels


def split(packed, columns=C):
    """(a, b) from one flat vector, so that one gradient covers both."""
    return ops.reshape(packed[: N * D], (N, D)), ops.reshape(packed[N * D :], (D, columns))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
# All, divides, not (chunks of 6: `even_chunk_size`), 1, > C; and 23 classes (no divisor
# near 5): chunks of 5, 5, 5, 5 and a last smaller chunk of 3.
@pytest.mark.parametrize("chunk_size, classes", [(C, C), (8, C), (7, C), (1, C), (100, C), (5, 23)])
@pytest.mark.parametrize("name, loss", LOSSES, ids=[c[0] for c in LOSSES])
def test_equal_to_the_unfused_loss(name, loss, chunk_size, classes, jit):
    if jit and BACKEND == "torch":
        pytest.skip("torch.compile breaks the graph at the custom gradient: test_torch_compile")
    assert_equal_to_unfused(loss, chunk_size, jit=jit, classes=classes)


def assert_equal_to_unfused(loss, chunk_size, shards=1, jit=False, classes=C, subcenters=1):
    """Values and gradients of both inputs, chunked against `loss` on the full logits.

    With `subcenters`, the full logits are the head's: each class's best column.
    """
    target, values, scale = loss.fused_target()
    packed, labels = inputs(scale is not None, classes=classes, subcenters=subcenters)
    labels_tensor = ops.convert_to_tensor(labels)
    columns = classes * subcenters

    def full(packed):
        a, b = split(packed, columns)
        return loss(labels_tensor, class_logits(a, b, subcenters))

    def chunked(packed):
        a, b = split(packed, columns)
        return _fused.chunked_margin_losses(
            a, b, labels_tensor, target, values, chunk_size, shards=shards, subcenters=subcenters
        )

    expected = ops.convert_to_numpy(full(ops.convert_to_tensor(packed)))
    np.testing.assert_allclose(
        ops.convert_to_numpy(chunked(ops.convert_to_tensor(packed))), expected, rtol=1e-5
    )
    np.testing.assert_allclose(
        grad_of_sum(chunked, packed, jit=jit),
        grad_of_sum(full, packed, jit=jit),
        rtol=1e-5,
        atol=1e-6,
    )


def test_even_chunk_size():
    """The largest divisor of the classes within [chunk_size / 2, chunk_size], or chunk_size."""
    assert [_fused.even_chunk_size(24, k) for k in (1, 4, 5, 7, 9, 13, 24, 100)] == [
        1,
        4,
        4,
        6,
        8,
        12,
        24,
        24,
    ]
    assert _fused.even_chunk_size(10**6, 8192) == 8000
    assert _fused.even_chunk_size(29, 8) == 8  # 29 is prime: a rest of 5
    assert _fused.even_chunk_size(23, 5) == 5  # a rest of 3
    assert _fused.even_chunk_size(7, 2) == 1  # half of 2 is still allowed


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
# Equal chunks (7 -> 6 classes of 3 sub-centers each), and a rest chunk of 3 classes.
@pytest.mark.parametrize("chunk_size, classes", [(7, C), (5, 23)])
@pytest.mark.parametrize("name, loss", LOSSES, ids=[c[0] for c in LOSSES])
def test_subcenters_equal_the_unfused_head(name, loss, chunk_size, classes, jit):
    """Three columns per class: each class's logit the best of its three, in chunks of classes."""
    if jit and BACKEND == "torch":
        pytest.skip("torch.compile breaks the graph at the custom gradient: test_torch_compile")
    assert_equal_to_unfused(loss, chunk_size, jit=jit, classes=classes, subcenters=3)


def test_a_tie_between_subcenters_sends_the_gradient_to_the_first():
    """Two equal sub-centers per class: the first gets all of the class's gradient, fused or not."""
    packed, labels = inputs(False, subcenters=2)
    a = packed[: N * D]
    b = packed[N * D :].reshape(D, C, 2)
    b[:, :, 1] = b[:, :, 0]
    packed = np.concatenate([a, b.ravel()])
    labels_tensor = ops.convert_to_tensor(labels)
    loss = LOSSES[0][1]
    target, values, _ = loss.fused_target()

    def full(packed):
        a, b = split(packed, 2 * C)
        return loss(labels_tensor, class_logits(a, b, 2))

    def chunked(packed):
        a, b = split(packed, 2 * C)
        return _fused.chunked_margin_losses(a, b, labels_tensor, target, values, 5, subcenters=2)

    for grad in (grad_of_sum(full, packed), grad_of_sum(chunked, packed)):
        db = grad[N * D :].reshape(D, C, 2)
        assert np.abs(db[:, :, 0]).max() > 0 and np.all(db[:, :, 1] == 0)


@pytest.mark.parametrize("shards, classes", [(2, C), (3, C), (2, 46)])
def test_blocks_of_classes_equal_the_unfused_loss(shards, classes):
    """Classes as blocks (a class split's shards), each chunked on its own.

    12 or 8 per block in chunks of 4; 23 per block in chunks of 5 and a rest of 3.
    """
    assert_equal_to_unfused(LOSSES[0][1], 5, shards=shards, classes=classes)
    assert_equal_to_unfused(LOSSES[2][1], 5, shards=shards, classes=classes, subcenters=3)


def test_blocks_must_divide_the_classes():
    packed, labels = inputs(cosines=False)
    a, b = split(ops.convert_to_tensor(packed))
    with pytest.raises(ValueError, match="24 classes do not split into 5 equal blocks"):
        _fused.chunked_margin_losses(a, b, labels, wsoftmax_target, (0.3,), 4, shards=5)


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile")
def test_torch_compile():
    """Dynamo breaks the graph at Keras's custom gradient (an autograd.Function), and runs."""
    import torch

    packed, labels = inputs(cosines=False)
    labels_tensor = ops.convert_to_tensor(labels)
    gradients = []
    for compile_it in (False, True):
        t = torch.tensor(packed, requires_grad=True)

        def loss(t):
            a, b = split(t)
            return _fused.chunked_margin_losses(a, b, labels_tensor, wsoftmax_target, (0.3,), 7)

        (torch.compile(loss) if compile_it else loss)(t).sum().backward()
        gradients.append(t.grad.numpy())
    np.testing.assert_allclose(gradients[1], gradients[0], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(BACKEND != "jax", reason="XLA's memory analysis of the compiled gradient")
def test_temporaries_grow_with_the_chunk_not_the_class_count():
    """The gradient's temporaries hold a few (N, chunk) buffers, never the (N, C) logits."""
    import jax
    import jax.numpy as jnp

    n, d, classes, chunk_size = 256, 8, 8192, 256
    shapes = [((n, d), jnp.float32), ((d, classes), jnp.float32), ((n,), jnp.int32)]
    specs = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in shapes]

    def temporaries(loss):
        gradient = jax.jit(jax.grad(lambda a, b, y: jnp.sum(loss(a, b, y)), argnums=(0, 1)))
        return gradient.lower(*specs).compile().memory_analysis().temp_size_in_bytes

    logits_bytes = 4 * n * classes
    unfused = temporaries(lambda a, b, y: wsoftmax(y, a @ b, alpha=0.2))
    fused = temporaries(
        lambda a, b, y: _fused.chunked_margin_losses(a, b, y, wsoftmax_target, (0.2,), chunk_size)
    )
    assert unfused >= logits_bytes  # the reference point: the logits are there
    # A few chunks (1/32 of C each), the chunks' stacked shares of both
    # gradients (D x C and chunks x N x D), per-sample and per-unit vectors.
    stacked = 4 * (d * classes + classes // chunk_size * n * d)
    small = 4 * (n + d) * 16
    assert fused <= 4 * (4 * n * chunk_size) + stacked + small, (fused, unfused)


def two_models(normalize, loss_of, chunk_size, seed=3, subcenters=1):
    """The same small model twice from one seed: with the head's logits, and fused."""
    import keras

    from keras_wsoftmax import WSoftmaxHead

    models = []
    for output_mode in ("logits", "features"):
        keras.utils.set_random_seed(seed)
        head = WSoftmaxHead(
            C, units=D, normalize=normalize, output_mode=output_mode, subcenters=subcenters
        )
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8), head])
        loss = loss_of()
        model.compile(
            optimizer=keras.optimizers.SGD(0.1),
            loss=loss if output_mode == "logits" else head.fused_loss(loss, chunk_size=chunk_size),
        )
        models.append((model, head))
    return models


FIT_LOSSES = {c.name: c.loss for c in CASES}  # cosine losses at the head's default scale


@pytest.mark.parametrize("subcenters", [1, 3])
@pytest.mark.parametrize(
    "normalize, name",
    [(False, "wsoftmax")] + [(True, c.name) for c in CASES],
)
def test_fit_reaches_the_weights_of_the_unfused_head(normalize, name, subcenters):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 5)).astype("float32")
    y = rng.integers(0, C, 64).astype("int32")
    (plain, plain_head), (fused, fused_head) = two_models(
        normalize, FIT_LOSSES[name], 7, subcenters=subcenters
    )
    for model in (plain, fused):
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(plain.get_weights(), fused.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    features = fused.predict(x[:4], verbose=0)
    np.testing.assert_allclose(
        ops.convert_to_numpy(fused_head.logits(features)),
        plain.predict(x[:4], verbose=0),
        rtol=1e-4,  # of weights equal to rtol 1e-5, summed over the features
        atol=1e-4,
    )


def test_fused_loss_contract():
    """Sample weights, ignore_class and reductions as the unfused loss; bad input named."""
    import keras

    from keras_wsoftmax import CosFace, WSoftmax, WSoftmaxHead

    head = WSoftmaxHead(C, units=D, normalize=False, output_mode="features")
    x = np.random.default_rng(2).standard_normal((6, 4)).astype("float32")
    features = head(x)
    logits = head.logits(features)
    y = np.array([0, 3, 255, 7, 23, 255], dtype="int32")
    weights = np.array([1.0, 2.0, 1.0, 0.5, 0.0, 1.0], dtype="float32")
    for reduction in ["sum", "sum_over_batch_size", "mean", "mean_with_sample_weight", "none"]:
        loss = WSoftmax(0.2, ignore_class=255, reduction=reduction)
        expected = ops.convert_to_numpy(loss(y, logits, sample_weight=weights))
        fused = head.fused_loss(loss, chunk_size=5)
        got = ops.convert_to_numpy(fused(y, features, sample_weight=weights))
        np.testing.assert_allclose(got, expected, rtol=1e-5, err_msg=reduction)
    # Bad labels: the unfused loss's error, word for word.
    with pytest.raises(
        ValueError, match=r"Label 24\S* at index \(1,\) is not a class id"
    ) as unfused:
        WSoftmax(0.2)(np.array([0, 24]), logits[:2])
    with pytest.raises(ValueError) as fused_error:
        head.fused_loss(WSoftmax(0.2))(np.array([0, 24]), features[:2])
    assert str(fused_error.value) == str(unfused.value)
    with pytest.raises(ValueError, match=r"Label 1.5 at index \(1,\)"):  # not cast to 1
        head.fused_loss(WSoftmax(0.2))(np.array([0.0, 1.5]), features[:2])
    with pytest.raises(ValueError, match=r"shape \(batch, 6\)"):
        head.fused_loss(WSoftmax(0.2))(y, logits)
    with pytest.raises(ValueError, match="use a cosine head"):
        head.fused_loss(CosFace(0.35))
    with pytest.raises(ValueError, match="chunk_size"):
        head.fused_loss(WSoftmax(0.2), chunk_size=0)
    assert (
        keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(head)).output_mode
        == "features"
    )


def test_a_fused_model_saves_loads_and_trains_again(tmp_path):
    import keras

    from keras_wsoftmax import WSoftmax

    (_, _), (model, head) = two_models(True, FIT_LOSSES["wsoftmax"], 7)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 5)).astype("float32")
    y = rng.integers(0, C, 32).astype("int32")
    model.fit(x, y, batch_size=16, verbose=0)
    model.save(tmp_path / "fused.keras")
    loaded = keras.saving.load_model(tmp_path / "fused.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # The loaded loss is bound to no head (the loaded layers are new ones), and says so.
    with pytest.raises(ValueError, match=rf"model.get_layer\('{head.name}'\).fused_loss"):
        loaded.fit(x, y, verbose=0)
    loaded.compile(optimizer="sgd", loss=loaded.get_layer(head.name).fused_loss(WSoftmax(0.3), 7))
    history = loaded.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))


@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "cosine"])
def test_non_finite_features(normalize):
    """Ignored samples are inert whatever their features; a NaN stays in its own sample."""
    import keras

    from keras_wsoftmax import WSoftmax, WSoftmaxHead

    head = WSoftmaxHead(C, units=D, normalize=normalize, output_mode="features")
    head.build((None, 4))
    classifier = ops.convert_to_numpy(head.classifier)
    features = np.random.default_rng(5).standard_normal((N, D)).astype("float32")
    y = np.array([0, 3, 255, 7, 255, 5, 1, 2, 4], dtype="int32")

    def loss_of(reduction):
        """The fused loss as a function of the features and classifier, packed in one vector."""
        loss = head.fused_loss(WSoftmax(0.2, ignore_class=255, reduction=reduction), 5)

        def of(packed):
            a, b = split(packed)
            with keras.StatelessScope(state_mapping=[(head.classifier, b)]):
                return loss(y, a)

        return of

    def packed(a):
        return np.concatenate([a.ravel(), classifier.ravel()]).astype("float32")

    bad = features.copy()
    bad[2], bad[4] = np.nan, np.inf  # both ignored
    total = loss_of("sum")
    expected = float(ops.convert_to_numpy(total(packed(features))))
    assert float(ops.convert_to_numpy(total(packed(bad)))) == pytest.approx(expected, rel=1e-6)
    grad = grad_of_sum(total, packed(bad))
    np.testing.assert_allclose(grad, grad_of_sum(total, packed(features)), rtol=1e-6)
    assert np.all(grad[: N * D].reshape(N, D)[y == 255] == 0)
    # A NaN in a sample that counts: its loss is NaN, every other one's unchanged.
    each = loss_of("none")
    nan_kept = features.copy()
    nan_kept[1] = np.nan
    got = ops.convert_to_numpy(each(packed(nan_kept)))
    assert np.isnan(got[1])
    np.testing.assert_allclose(
        np.delete(got, 1), np.delete(ops.convert_to_numpy(each(packed(features))), 1), rtol=1e-6
    )


@pytest.mark.parametrize("normalize", [False, True], ids=["plain", "cosine"])
def test_mixed_precision(normalize):
    """Under mixed_float16 a fused step is the unfused one's within float16, and fit trains."""
    import keras

    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        (plain, _), (fused, fused_head) = two_models(normalize, FIT_LOSSES["wsoftmax"], 7)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert fused_head.compute_dtype == "float16" and fused_head.classifier.dtype == "float32"
    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 5)).astype("float32")
    y = rng.integers(0, C, 64).astype("int32")
    assert fused.predict(x[:4], verbose=0).dtype == np.float16  # the features
    for model in (plain, fused):
        # A loss scale at which neither overflows: at Keras's 2^15 the unfused head's
        # float16 logit gradients overflow (loss about 14 on cosines of scale 16), and
        # the first step is skipped.
        optimizer = keras.optimizers.LossScaleOptimizer(
            keras.optimizers.SGD(0.1), initial_scale=2**7
        )
        model.compile(optimizer=optimizer, loss=model.loss)
    first = [float(m.train_on_batch(x[:16], y[:16])) for m in (plain, fused)]
    assert first[1] == pytest.approx(first[0], rel=1e-2)  # float32 logits against float16 ones
    for a, b in zip(plain.get_weights(), fused.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-2, atol=2e-3)
    # Further steps drift apart (float16 logits at rate 0.1); the fused one trains.
    history = fused.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0], history
    assert all(np.all(np.isfinite(w)) for w in fused.get_weights())
