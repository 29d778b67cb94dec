"""The chunked core (`keras_wsoftmax._fused`) against the unfused losses on the full logits."""

import numpy as np
import pytest
from keras import ops

from keras_wsoftmax import _fused, arcface, cosface, wsoftmax
from keras_wsoftmax.arcface import target_for as arcface_target
from keras_wsoftmax.cosface import target_for as cosface_target
from keras_wsoftmax.loss import _target as wsoftmax_target
from tests.helpers.backends import BACKEND, grad_of_sum

N, D, C = 9, 6, 24
SCALE = 16.0

# (name, unfused loss of logits and labels, the fused core's target and values, cosines?)
LOSSES = [
    ("wsoftmax", lambda y, z: wsoftmax(y, z, alpha=0.3), wsoftmax_target, (0.3,), False),
    ("cross-entropy", lambda y, z: wsoftmax(y, z, alpha=0.0), wsoftmax_target, (0.0,), False),
    (
        "cosface",
        lambda y, z: cosface(y, z, 0.35, scale=SCALE),
        cosface_target(SCALE),
        (0.35,),
        True,
    ),
    (
        "arcface",
        lambda y, z: arcface(y, z, 0.5, scale=SCALE),
        arcface_target(SCALE, False),
        (0.5,),
        True,
    ),
]


def inputs(cosines, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((N, D)).astype("float32")
    b = rng.standard_normal((D, C)).astype("float32")
    if cosines:  # the cosine head's inputs: scaled unit features, unit class weights
        a = SCALE * a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=0, keepdims=True)
    labels = rng.integers(0, C, N).astype("int32")
    return np.concatenate([a.ravel(), b.ravel()]), labels


def split(packed):
    """(a, b) from one flat vector, so that one gradient covers both."""
    return ops.reshape(packed[: N * D], (N, D)), ops.reshape(packed[N * D :], (D, C))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("chunk_size", [C, 8, 6, 7, 5, 1, 100])
@pytest.mark.parametrize(
    "name, unfused, target, values, cosines", LOSSES, ids=[c[0] for c in LOSSES]
)
def test_equal_to_the_unfused_loss(name, unfused, target, values, cosines, chunk_size, jit):
    if jit and BACKEND == "torch":
        pytest.skip("torch.compile breaks the graph at the custom gradient: test_torch_compile")
    packed, labels = inputs(cosines)
    labels_tensor = ops.convert_to_tensor(labels)

    def full(packed):
        a, b = split(packed)
        return unfused(labels_tensor, ops.matmul(a, b))

    def chunked(packed):
        a, b = split(packed)
        return _fused.chunked_margin_losses(a, b, labels_tensor, target, values, chunk_size)

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
    assert fused <= 4 * (4 * n * chunk_size), (fused, unfused)  # a few chunks, 1/32 of C each
