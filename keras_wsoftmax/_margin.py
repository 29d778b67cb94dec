"""The one core of every margin loss: cross-entropy with the target logit replaced.

Each loss of the package is softmax cross-entropy whose target logit ``z_y``
is replaced by a function ``f(z_y)`` of it, the loss's one line:

    loss(z, y) = -log( exp(f(z_y)) / (exp(f(z_y)) + sum_{j != y} exp(z_j)) )
               = softplus( logsumexp_{j != y}(z_j) - f(z_y) )

W-Softmax's ``f(z_y) = z_y - alpha |z_y|`` (the same as raising every
negative by ``alpha |z_y|``), CosFace's ``z_y - s m``, ArcFace's
``s cos(theta_y + m)``. Everything else is written once, here and in
`_inputs`: labels, `axis`, `ignore_class`, validity, the eager errors, the
limits of non-finite logits, and a hand-written gradient,

    d loss / d z_j = sigmoid(margin) * softmax_{j != y}(z)_j      (j != y)
    d loss / d z_y = -f'(z_y) * sigmoid(margin)
    d loss / d p   = -(d f / d p) * sigmoid(margin)               (a tensor parameter p)

with ``margin`` the softplus argument.
"""

import abc
import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import keras
import numpy as np
from keras import ops

from keras_wsoftmax._backend import eager_numpy, torch_compiling
from keras_wsoftmax._inputs import masked, standardize

# How far a target logit may pass the scale of a cosine loss (float rounding
# of the head's logits, bfloat16's included) before it counts as a mismatch.
SCALE_TOLERANCE = 1.01


class Target(NamedTuple):
    """A loss's new target logit ``f(z_y)``, per sample, and its derivatives.

    value: ``f(z_y)``, in `keras.ops`.
    slope: ``f'(z_y)``, for the hand-written gradient (a tensor or a number).
    partials: A function returning ``d f / d p`` for each of the loss's
        parameters, in order; called only when one of them is a tensor.
    differentiable: Whether automatic differentiation of `value` as written
        gives `slope` and `partials` (the `torch.compile` path takes them
        from `value`); if not, that path holds them in by `_with_derivatives`.
    """

    value: Any
    slope: Any
    partials: Any
    differentiable: bool = True


def margin_losses(y_true, y_pred, target, parameters, ignore_class=None, axis=-1, scale=None):
    """Per-sample ``softplus(logsumexp_{j != y} z_j - f(z_y))`` with ``f`` from `target`.

    Args:
        y_true, y_pred, ignore_class, axis: As in `keras_wsoftmax.wsoftmax`.
        target: ``target(z_y, *values) -> Target``, with the parameters'
            values (floats or scalar tensors) in the order of `parameters`.
        parameters: The loss's `_inputs.Parameter`s.
        scale: For a loss on scaled cosines, their scale: a kept sample
            whose target logit is beyond ``+-scale`` (by more than float
            rounding) raises when eager and is NaN when compiled, since its
            cosine ``z_y / scale`` would not be one (the loss's scale is not
            the head's).

    Returns:
        Losses of the logits' shape without the class axis, masked for
        Keras's reduction where `ignore_class` is set.
    """
    inputs = standardize(y_true, y_pred, parameters, ignore_class, axis)
    logits, targets = inputs.logits, inputs.targets
    if 0 in logits.shape[:-1]:
        # An empty batch: no row to take a maximum over (nor a logit to
        # check). The sum is empty too, and keeps the (empty) gradient
        # connected to the logits.
        losses = ops.sum(logits, axis=-1)
    else:
        if scale is not None:
            targets = targets._replace(valid=_scale_check(logits, targets, scale))
        losses = _losses(logits, target, inputs.parameters, targets.is_target, targets.class_ids)
    return masked(losses, targets)


def _with_derivatives(target, z_y, values):
    """`target`'s value, with its `slope` and `partials` as the gradient automatic differentiation sees.

    For a target whose value, differentiated as written, would not give its
    derivatives (ArcFace's ``sqrt(1 - c^2)`` has no finite one at ``c = 1``):
    ``value + slope * (z_y - z_y) + ...``, with every factor but the last
    held constant, equals the value and has the wanted gradient. Needs a
    finite `z_y`.
    """
    hold = ops.stop_gradient
    value = hold(target.value) + hold(target.slope) * (z_y - hold(z_y))
    learnable = [(i, v) for i, v in enumerate(values) if not isinstance(v, float)]
    if learnable:
        partials = target.partials()
        for i, v in learnable:
            value = value + hold(partials[i]) * (v - hold(v))
    return value


def _scale_check(logits, targets, scale):
    """`targets.valid` with the target logits' range folded in; raises when eager and one is out."""
    valid = targets.valid
    z_y = _target_logit(logits, targets.is_target, targets.class_ids)
    # "Not beyond" rather than "within": a NaN logit stays a NaN loss.
    in_range = ops.logical_not(ops.greater(ops.abs(z_y), SCALE_TOLERANCE * scale))
    if targets.kept is not None:
        in_range = ops.logical_or(in_range, ops.logical_not(targets.kept))
    checked = eager_numpy(in_range)
    if checked is None:
        return in_range if valid is None else ops.logical_and(valid, in_range)
    if not checked.all():
        index = tuple(int(axis[0]) for axis in (~checked).nonzero())
        value = ops.convert_to_numpy(z_y)[index]
        raise ValueError(
            f"The target logit {value.item()!r} at index {index} is outside "
            f"[-scale, scale] = [{-scale:g}, {scale:g}]: this loss reads cosines back as "
            "logits / scale, so it needs the scaled cosines of a head of the same scale: "
            "pass the head's, `loss(..., scale=head.scale)` (the head's default grows "
            "with the class count, keras_wsoftmax.recommended_scale)."
        )
    return valid


def _losses(logits, target, values, is_target, class_ids):
    """The per-sample losses, with the hand-written gradient of the module's docstring.

    Autodiff of the forward pass keeps the masked logits and, for the z_y
    gather, scatters into a fresh N x C buffer; this gradient reuses the
    forward's exponentials in one elementwise pass, as fused cross-entropy
    kernels do (``reports/performance.md`` has the measurements). A float
    parameter is a constant of the gradient, a tensor one gets its own.
    Under `torch.compile` the plain composition is used instead: dynamo
    cannot trace Keras's custom-gradient `autograd.Function` and breaks the
    graph there, which measured several times slower than its own fusion.
    """
    if torch_compiling():
        return ops.softplus(_differentiable_margin(logits, target, values, is_target, class_ids))
    learnable = [i for i, value in enumerate(values) if not isinstance(value, float)]
    tensors = tuple(values[i] for i in learnable)

    @ops.custom_gradient
    def forward(z, *learned):
        current = list(values)
        for i, tensor in zip(learnable, learned, strict=True):
            current[i] = tensor
        set_targets = _target_setter(z, is_target, class_ids)
        z_y = _target_logit(z, is_target, class_ids)
        new_target = target(z_y, *current)
        margin, weights, total = _margin(z, new_target.value, set_targets)

        def grad(*args, upstream=None):
            if upstream is None:  # TensorFlow and JAX pass it alone; PyTorch by name
                (upstream,) = args
            s = ops.sigmoid(margin) * upstream
            # total >= 1 whenever a negative is finite (its peak adds exp(0));
            # 0 only when all are -inf, where the weights are 0 too.
            negative_grad = weights * ops.expand_dims(s / ops.maximum(total, 1.0), axis=-1)
            dz = set_targets(negative_grad, -new_target.slope * s)
            if not learnable:
                return dz
            partials = new_target.partials()
            # s = 0 where the loss is 0 or at its limit (z_y = +-inf): 0, not 0 * inf.
            return dz, *(
                ops.sum(ops.where(ops.equal(s, 0.0), 0.0, -s * partials[i])) for i in learnable
            )

        return ops.softplus(margin), grad

    return forward(logits, *tensors)


def _margin(z, new_target, set_targets):
    """The softplus argument ``logsumexp_{j != y} z_j - f(z_y)``, and the negatives' weights.

    Returns ``(margin, weights, total)``: the negatives' exponentials
    shifted by their maximum, and their sum. Limits of non-finite logits:
    negatives all -inf give ``logsumexp = -inf`` (nothing to beat: loss 0);
    ``f(z_y) = +inf`` gives ``-inf`` and ``-inf`` gives ``+inf``, as the
    formula's limits (``docs/wsoftmax.md``, "Non-finite logits").
    """
    negatives = set_targets(z, -math.inf)
    peak = ops.amax(negatives, axis=-1)  # ops.max trips torch.compile (dynamo) in Keras 3.15
    # All negatives -inf: shift by the lowest float instead, so that their
    # weights are exp(-inf) = 0, not exp(-inf + inf) = NaN.
    peak = ops.maximum(peak, lowest(z.dtype))
    weights = ops.exp(negatives - ops.expand_dims(peak, axis=-1))
    total = ops.sum(weights, axis=-1)
    log_total = ops.log(total)  # log(0) = -inf: the limit
    return log_total + peak - new_target, weights, total


def _differentiable_margin(z, target, values, is_target, class_ids):
    """The margin by plain composition, for automatic differentiation (`torch.compile`).

    Built on `logsumexp`, whose gradient PyTorch's compiler fuses better
    than that of its parts. The target is masked with the lowest finite
    float rather than -inf: a row whose negatives are all -inf then has a
    finite `logsumexp` (that lowest float, far below any logit: the loss is
    its limit 0) and a gradient of 0, not NaN.
    """
    set_targets = _target_setter(z, is_target, class_ids)
    z_y = _target_logit(z, is_target, class_ids)
    negatives = set_targets(z, lowest(z.dtype))
    new_target = target(z_y, *values)
    if new_target.differentiable:
        value = new_target.value
    else:
        value = _with_derivatives(new_target, z_y, values)
    return ops.logsumexp(negatives, axis=-1) - value


def lowest(dtype):
    """The lowest finite float of `dtype`."""
    return float(np.finfo(keras.backend.standardize_dtype(dtype)).min)


def _target_setter(z, is_target, class_ids):
    """A function ``(x, values) -> x`` with each sample's target entry set to `values`.

    `values` is a number or one value per sample. On eager PyTorch a scatter
    into a copy replaces comparing class ids with ``arange(C)`` and selecting
    with ``where``, two slow passes there (``reports/performance.md``,
    section 6); compilers (XLA, inductor) fuse the comparison and the
    selection into their neighbours instead.
    """
    shape = tuple(z.shape)
    if class_ids is not None and keras.backend.backend() == "torch" and not torch_compiling():
        # Rank 2 without reshapes: a Keras op's dispatch costs more than a
        # small tensor's arithmetic here (reports/performance.md, section 6).
        rows = math.prod(shape[:-1])
        flat = len(shape) == 2
        ids = ops.squeeze(class_ids, axis=-1) if flat else ops.reshape(class_ids, (rows,))
        index = ops.stack([ops.arange(rows, dtype="int32"), ids], axis=1)

        def set_targets(x, values):
            # A number is broadcast by the scatter itself.
            if flat:
                return ops.scatter_update(x, index, values)
            if not isinstance(values, float):
                values = ops.reshape(values, (rows,))
            flat_x = ops.reshape(x, (rows, shape[-1]))
            return ops.reshape(ops.scatter_update(flat_x, index, values), shape)

        return set_targets
    if is_target is None:
        is_target = ops.equal(class_ids, ops.arange(shape[-1], dtype="int32"))

    def set_targets(x, values):
        if not isinstance(values, float):
            values = ops.expand_dims(values, axis=-1)
        return ops.where(is_target, values, x)

    return set_targets


def _target_logit(z, is_target, class_ids):
    if class_ids is None:
        return ops.sum(ops.where(is_target, z, 0.0), axis=-1)
    return ops.squeeze(ops.take_along_axis(z, class_ids, axis=-1), axis=-1)


class MarginLoss(keras.losses.Loss, metaclass=abc.ABCMeta):
    """What the margin losses share as Keras losses: `call`, `ignore_class`, `axis`, their config.

    A subclass is its docstring, its parameters and its target: it sets
    `function` (its loss function, ``function(y_true, y_pred, **parameters,
    ignore_class=..., axis=...)``) and `parameters` (the names of the
    arguments of its constructor that `function` takes, each kept as an
    attribute of that name), checks them in its constructor, and says its
    target for a fused loss (`fused_target`). `call` and `get_config` follow
    from those; a subclass without `fused_target` cannot be made.
    """

    function: ClassVar[Callable[..., Any]]
    parameters: ClassVar[tuple[str, ...]]

    def __init__(self, ignore_class, reduction, name, dtype, axis):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.ignore_class = ignore_class
        self.axis = axis

    def parameter_values(self):
        """``{name: value}`` of the loss's `parameters`, as `function` takes them."""
        return {name: getattr(self, name) for name in self.parameters}

    def call(self, y_true, y_pred):
        return type(self).function(
            y_true,
            y_pred,
            **self.parameter_values(),
            ignore_class=self.ignore_class,
            axis=self.axis,
        )

    @abc.abstractmethod
    def fused_target(self):
        """``(target, values, scale)``, for `WSoftmaxHead.fused_loss`.

        `target` is ``target(z_y, *values) -> Target``, `values` the numbers
        it takes (read at each call, so that an assigned parameter applies),
        `scale` the cosines' scale the loss reads, or None for any logits.
        """

    def get_config(self):
        config = super().get_config()
        config.update(
            {"ignore_class": self.ignore_class, "axis": self.axis, **self.parameter_values()}
        )
        return config
