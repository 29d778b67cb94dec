"""Partial FC: a fused loss over a sample of the classes (``head.fused_loss(sample_rate=...)``)."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_wsoftmax import ArcFace, WSoftmax, WSoftmaxHead, _fused
from keras_wsoftmax._subcenters import class_logits
from tests.helpers.backends import BACKEND, compiled, grad_of_sum
from tests.test_fused import LOSSES, D, N, inputs, split

C = 24


def sample(labels, count, shards=1, counted=None, seed=0, classes=C):
    """`_fused.sample_classes` of `labels` from a fresh generator, as NumPy arrays."""
    kept, positions = _fused.sample_classes(
        ops.convert_to_tensor(np.asarray(labels, "int32")),
        counted,
        classes,
        shards,
        count,
        keras.random.SeedGenerator(seed),
    )
    return ops.convert_to_numpy(kept), ops.convert_to_numpy(positions)


def in_order(kept, classes=C):
    """The kept classes' ids, block after block: the order of the sampled logits."""
    shards = kept.shape[0]
    return (kept + classes // shards * np.arange(shards)[:, None]).ravel()


@pytest.mark.parametrize("shards", [1, 2, 3])
def test_each_block_keeps_its_batch_classes_then_others(shards):
    labels = np.array([0, 5, 5, 23, 9, 12, 12, 17, 2])
    count = 7  # the batch's 7 classes fit any block's sample
    kept, positions = sample(labels, count, shards=shards)
    width = C // shards
    assert kept.shape == (shards, count)
    assert (
        all(len(set(row)) == count for row in kept) and (0 <= kept).all() and (kept < width).all()
    )
    # Each sample's position points at its own class among the sampled logits.
    np.testing.assert_array_equal(in_order(kept)[positions], labels)


def test_the_other_classes_are_a_uniform_sample():
    """Over many steps of one generator, each other class is kept count - 4 of 20 times."""
    labels = ops.convert_to_tensor(np.array([1, 2, 2, 3, 4], "int32"))
    seed = keras.random.SeedGenerator(7)
    steps, count = 300, 9
    times = np.zeros(C)
    for _ in range(steps):
        kept, _ = _fused.sample_classes(labels, None, C, 1, count, seed)
        times[ops.convert_to_numpy(kept).ravel()] += 1
    assert (times[[1, 2, 3, 4]] == steps).all()
    others = np.delete(times, [1, 2, 3, 4])
    expected = steps * (count - 4) / (C - 4)  # 75; a binomial's std is 7.5
    assert np.abs(others - expected).max() < 5 * 7.5, others


def test_a_class_that_does_not_fit_has_position_minus_one():
    labels = np.arange(8)  # 8 classes, 5 kept
    _, positions = sample(labels, 5)
    assert sorted(positions.tolist()).count(-1) == 3
    # An ignored sample's class is not forced into the sample.
    counted = ops.convert_to_tensor(np.array([True] * 4 + [False] * 4))
    kept, positions = sample(labels, 5, counted=counted)
    assert set(range(4)) <= set(kept.ravel().tolist())
    np.testing.assert_array_equal(
        positions[:4], [in_order(kept).tolist().index(c) for c in range(4)]
    )


# One block (top_k) and blocks (sorts), one and three sub-centers, eager and compiled.
@pytest.mark.parametrize(
    "shards, subcenters, jit",
    [(1, 1, False), (1, 3, True), (2, 1, True), (3, 3, False)],
    ids=["one-block-eager", "one-block-sub-compiled", "blocks-compiled", "blocks-sub-eager"],
)
@pytest.mark.parametrize("name, loss", LOSSES, ids=[c[0] for c in LOSSES])
def test_the_sampled_loss_is_the_loss_on_the_kept_classes(name, loss, shards, subcenters, jit):
    """Values and gradients of features and every class weight (0 outside the sample)."""
    if jit and BACKEND == "torch":
        pytest.skip("torch.compile breaks the graph at the custom gradient: test_torch_compile")
    target, values, scale = loss.fused_target()
    packed, labels = inputs(scale is not None, subcenters=subcenters)
    # 9 samples: their classes fit a block's sample of 9 (of 8: the whole block, reordered).
    kept, positions = sample(labels, min(9, C // shards), shards=shards)
    kept_tensor, positions_tensor = (ops.convert_to_tensor(v) for v in (kept, positions))
    columns = C * subcenters

    def on_the_kept_classes(packed):
        a, b = split(packed, columns)
        logits = ops.take(class_logits(a, b, subcenters), in_order(kept), axis=1)
        return loss(positions_tensor, logits)

    def sampled(packed):
        a, b = split(packed, columns)
        b = _fused.sampled_columns(b, kept_tensor, subcenters)
        return _fused.chunked_margin_losses(
            a, b, positions_tensor, target, values, 4, shards=shards, subcenters=subcenters
        )

    expected = ops.convert_to_numpy(on_the_kept_classes(ops.convert_to_tensor(packed)))
    got = ops.convert_to_numpy(sampled(ops.convert_to_tensor(packed)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    grad = grad_of_sum(sampled, packed, jit=jit)
    np.testing.assert_allclose(
        grad, grad_of_sum(on_the_kept_classes, packed, jit=jit), rtol=1e-5, atol=1e-6
    )
    # No gradient for the class weights left out.
    db = grad[N * D :].reshape(D, C, subcenters)
    left_out = np.setdiff1d(np.arange(C), in_order(kept))
    assert np.all(db[:, left_out] == 0) and np.abs(db).max() > 0


def head_and_features(subcenters=1, normalize=True, seed=2):
    keras.utils.set_random_seed(seed)
    head = WSoftmaxHead(
        C, units=D, output_mode="features", subcenters=subcenters, normalize=normalize
    )
    x = np.random.default_rng(seed).standard_normal((N, 4)).astype("float32")
    return head, head(x)


@pytest.mark.parametrize("subcenters", [1, 3])
def test_a_fused_loss_samples_from_the_heads_generator(subcenters):
    head, features = head_and_features(subcenters)
    labels = np.array([0, 3, 3, 7, 11, 12, 20, 23, 5], "int32")
    loss = WSoftmax(0.2, reduction=None)
    fused = head.fused_loss(loss, chunk_size=5, sample_rate=0.5, seed=11)
    got = ops.convert_to_numpy(fused(labels, features))
    kept, positions = sample(labels, 12, seed=11)  # ceil(0.5 x 24): what the head draws first
    expected = loss(positions, ops.take(head.logits(features), in_order(kept), axis=1))
    np.testing.assert_allclose(got, ops.convert_to_numpy(expected), rtol=1e-5)
    # The head's generator moved on: the next call draws another sample.
    np.testing.assert_array_equal(ops.convert_to_numpy(head.seed_generator.state), [11, 1])
    again = ops.convert_to_numpy(fused(labels, features))
    assert not np.allclose(again, got)
    # Fewer negatives: never above the full softmax's loss; sample_rate=1 is that loss.
    full = ops.convert_to_numpy(head.fused_loss(loss, chunk_size=5)(labels, features))
    assert np.all(got <= full + 1e-5) and np.all(again <= full + 1e-5)
    everything = head.fused_loss(loss, chunk_size=5, sample_rate=1.0)
    np.testing.assert_array_equal(ops.convert_to_numpy(everything(labels, features)), full)


def test_a_class_left_out_is_an_error_when_eager_and_nan_when_compiled():
    head, features = head_and_features()
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7, 255], "int32")  # 8 classes, 255 ignored
    loss = WSoftmax(0.2, ignore_class=255, reduction=None)
    fused = head.fused_loss(loss, sample_rate=0.2, seed=1)  # 5 of 24 classes
    with pytest.raises(ValueError, match=r"sample_rate >= batch size / classes \(9 / 24 = 0.375\)"):
        fused(labels, features)
    if BACKEND == "torch":
        return  # torch.compile breaks the graph at the eager check: it raises there too
    got = ops.convert_to_numpy(compiled(lambda f: fused(labels, f))(features))
    assert np.isnan(got[:8]).sum() == 3 and np.isfinite(got[:8]).sum() == 5
    assert got[8] == 0  # ignored: 0 whether its class was kept or not


def test_bad_sample_rates_and_seeds_are_named():
    head, _ = head_and_features()
    for bad in (0, 1.5, -0.1, float("nan"), "0.5"):
        with pytest.raises(ValueError, match="sample_rate"):
            head.fused_loss(WSoftmax(0.2), sample_rate=bad)
    for bad in (-1, 1.5, 2**31):
        with pytest.raises(ValueError, match="seed"):
            head.fused_loss(WSoftmax(0.2), sample_rate=0.5, seed=bad)


def fit(seed, subcenters=1, loss_of=None, steps=4):
    """A small model of 64 classes fitted with Partial FC (16 classes a step) from `seed`."""
    keras.utils.set_random_seed(seed)
    head = WSoftmaxHead(64, units=D, output_mode="features", subcenters=subcenters)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8), head])
    loss = (loss_of or (lambda head: WSoftmax(0.2)))(head)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=head.fused_loss(loss, 5, 0.25))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16 * steps, 5)).astype("float32")
    y = rng.integers(0, 64, 16 * steps).astype("int32")  # batches of 16: their classes fit
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"]
    return history, model.get_weights(), ops.convert_to_numpy(head.seed_generator.state)


def test_fit_is_reproducible_under_set_random_seed_and_draws_a_sample_a_step():
    history, weights, state = fit(5)
    again, weights_again, _ = fit(5)
    assert history == again
    for a, b in zip(weights, weights_again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert state[1] == 3 * 4  # one draw per step, carried through the compiled steps
    assert fit(6)[2][0] != state[0]  # another seed, another sample


@pytest.mark.parametrize("name", ["wsoftmax", "arcface"])
def test_fit_trains_a_subcenter_head(name):
    losses = {"wsoftmax": lambda head: WSoftmax(0.2), "arcface": lambda h: ArcFace(scale=h.scale)}
    history, weights, _ = fit(1, subcenters=3, loss_of=losses[name], steps=8)
    assert np.all(np.isfinite(history)) and history[-1] < history[0], history
    assert all(np.all(np.isfinite(w)) for w in weights)


def test_the_sample_rate_is_saved_with_the_loss():
    head, _ = head_and_features()
    fused = head.fused_loss(WSoftmax(0.2), 7, sample_rate=0.25)
    loaded = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(fused))
    assert (loaded.sample_rate, loaded.chunk_size, loaded.head) == (0.25, 7, None)
