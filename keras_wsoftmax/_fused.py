"""The margin losses of logits ``a @ b`` computed over chunks of classes, never all at once.

At many classes the (N, C) logits and their gradient, not the weights, fill
a device. Here the logits of ``chunk_size`` classes at a time are made,
used and dropped: the forward pass keeps per sample only an online
log-sum-exp of the negatives (its running maximum and sum) and the target
logit,

    peak  <- max(peak, max_{j in chunk, j != y} z_j)
    total <- total * exp(old peak - peak) + sum_{j in chunk, j != y} exp(z_j - peak)
    z_y   <- z_y + sum_{j in chunk} [j = y] z_j

and the hand-written backward pass makes each chunk's logits again, from
which the core's gradient (`_margin`) gives the chunk's share of both
inputs' gradients:

    g_j = s softmax_{j != y}(z)_j  (j != y),   g_y = -f'(z_y) s,   s = sigmoid(margin)
    d a = sum over chunks of g_chunk b_chunk^T,   d b_chunk = a^T g_chunk

Peak temporary memory is O(N x chunk_size) (K times that with K
sub-centers) besides the inputs and the gradient of `b` (D x C, which any
trainer holds); the cost is one more
N x D x C matmul than the unfused step's three (autodiff of the forward
would keep every chunk's logits and save nothing). The forward's chunks are
an `ops.fori_loop` and the backward's an `ops.map`, so that a compiler runs
them one after another (XLA schedules the chunks of an unrolled Python loop
side by side and holds them all). The map stacks the chunks' gradients of
`b` (then one transpose puts the classes last) instead of writing each into
a (D, C) loop carry: XLA writes such a carry in place, but PyTorch and
TensorFlow's graphs copy all of it at every chunk; the price is that on JAX
the stacked gradient is a temporary of its own (reports/performance.md,
section 8, has the measurements behind both choices). Under a class split
(`WSoftmaxHead.get_layout_map`) the classes are viewed as one block per
device and each chunk takes the same columns of every block, so that each
device makes the logits of its own classes and what crosses devices is the
per-sample peak, sum and target logit.
"""

import math

import keras
from keras import ops

from keras_wsoftmax._backend import as_tensor, eager_numpy
from keras_wsoftmax._checks import checked_number
from keras_wsoftmax._inputs import masked, standardize_targets
from keras_wsoftmax._margin import lowest
from keras_wsoftmax._subcenters import best_of, subcenter_weights


def chunked_margin_losses(a, b, class_ids, target, values, chunk_size, shards=1, subcenters=1):
    """Per-sample ``softplus(logsumexp_{j != y} z_j - f(z_y))`` of ``z = a @ b``, by chunks.

    With ``subcenters = K > 1``, ``a @ b`` has K columns per class, side by
    side, and a class's logit ``z_j`` is the largest of its K; the gradient
    of ``z_j`` goes to that column (the first where several tie), as on the
    unfused head (`_subcenters`).

    Args:
        a: Features of shape (N, D), floating.
        b: Class weights of shape (D, C K).
        class_ids: int32 class ids of shape (N,), each in ``[0, C)``.
        target: ``target(z_y, *values) -> _margin.Target``, a margin loss's
            new target logit (`keras_wsoftmax.loss._target`, ...).
        values: The target's parameters, numbers (constants of the gradient).
        chunk_size: At most this many classes per chunk (`even_chunk_size`
            picks the chunks' size; a last, smaller chunk holds any rest).
        shards: The classes as this many equal blocks, each chunked on its
            own (`b` split by classes over as many devices: chunk ``k`` is
            the ``k``-th chunk of every block, so that no device reads
            another's classes). ``C`` is a multiple of it.
        subcenters: Columns of `b` per class, ``K >= 1``.

    Returns:
        Losses of shape (N,), with the gradient described in the module's
        docstring for `a` and `b` (none for `class_ids`).
    """
    units, columns = b.shape
    num_classes = columns // subcenters
    width = num_classes // shards
    if width * shards != num_classes:
        raise ValueError(f"{num_classes} classes do not split into {shards} equal blocks.")
    chunk_size = even_chunk_size(width, chunk_size)
    full, rest = divmod(width, chunk_size)
    first_class = ops.expand_dims(ops.arange(shards, dtype="int32") * width, axis=-1)
    class_ids = ops.reshape(class_ids, (-1, 1, 1))
    both = (-2, -1)  # the (block, class) axes of a chunk's logits

    def chunk(a, blocks, start, size):
        """A chunk's weights per sub-center (K of (D, blocks, size)), their logits, and its targets.

        The chunk's class logits (N, blocks, size) are the best of the K
        (`_subcenters.best_of`).
        """
        k = subcenters
        weights = ops.slice(blocks, (0, 0, start * k), (units, shards, size * k))
        weights = subcenter_weights(weights, k)
        logits = [ops.einsum("nd,dbk->nbk", a, w) for w in weights]
        classes = first_class + ops.arange(size, dtype="int32") + ops.cast(start, "int32")
        return weights, logits, ops.equal(class_ids, classes)

    @ops.custom_gradient
    def forward(a, b):
        blocks = ops.reshape(b, (units, shards, width * subcenters))

        def accumulate(start, size, carry):
            peak, total, z_y = carry
            _, logits, is_target = chunk(a, blocks, start, size)
            z, _ = best_of(logits)
            z_y = z_y + ops.sum(ops.where(is_target, z, 0.0), axis=both)
            negatives = ops.where(is_target, -math.inf, z)
            new_peak = ops.maximum(peak, ops.amax(negatives, axis=both))
            total = total * ops.exp(peak - new_peak) + ops.sum(
                ops.exp(negatives - ops.reshape(new_peak, (-1, 1, 1))), axis=both
            )
            return new_peak, total, z_y

        z_y = ops.zeros_like(a[:, 0])  # (N,), whether N is known or not
        total = ops.zeros_like(z_y)
        carry = (total + lowest(a.dtype), total, z_y)
        carry = ops.fori_loop(
            0, full, lambda i, c: accumulate(i * chunk_size, chunk_size, c), carry
        )
        peak, total, z_y = accumulate(full * chunk_size, rest, carry) if rest else carry
        new_target = target(z_y, *values)
        margin = ops.log(total) + peak - new_target.value

        def grad(*args, upstream=None):
            if upstream is None:  # TensorFlow and JAX pass it alone; PyTorch by name
                (upstream,) = args
            s = ops.sigmoid(margin) * upstream
            # As in the core: total >= 1 whenever a negative is finite.
            scale = ops.reshape(s / ops.maximum(total, 1.0), (-1, 1, 1))
            slope = ops.reshape(-new_target.slope * s, (-1, 1, 1))

            def backward(start, size):
                """The chunk's shares of the gradients of `a` and `blocks`."""
                weights, logits, is_target = chunk(a, blocks, start, size)
                z, winner = best_of(logits)
                g = ops.exp(z - ops.reshape(peak, (-1, 1, 1))) * scale
                g = ops.where(is_target, slope, g)
                if winner is None:
                    (w,) = weights
                    return ops.einsum("nbk,dbk->nd", g, w), ops.einsum("nd,nbk->dbk", a, g)
                # Each class's gradient to its best sub-center (`_subcenters`).
                g = [ops.where(ops.equal(winner, k), g, 0.0) for k in range(subcenters)]
                da = ops.einsum("nbk,dbk->nd", g[0], weights[0])
                for gk, w in zip(g[1:], weights[1:], strict=True):
                    da = da + ops.einsum("nbk,dbk->nd", gk, w)
                # Back to each class's K columns side by side.
                db = ops.stack([ops.einsum("nd,nbk->dbk", a, gk) for gk in g], axis=-1)
                db = ops.reshape(db, (units, shards, size * subcenters))
                return da, db

            # The full chunks' shares stacked by a map, not written into a
            # (D, C) carry: a backend without in-place updates would copy the
            # carry at every chunk.
            da, db = ops.map(
                lambda i: backward(i * chunk_size, chunk_size), ops.arange(full, dtype="int32")
            )
            da = ops.sum(da, axis=0)
            db = ops.reshape(
                ops.transpose(db, (1, 2, 0, 3)), (units, shards, full * chunk_size * subcenters)
            )
            if rest:
                da_rest, db_rest = backward(full * chunk_size, rest)
                da, db = da + da_rest, ops.concatenate([db, db_rest], axis=-1)
            return da, ops.reshape(db, (units, columns))

        return ops.softplus(margin), grad

    return forward(a, b)


def even_chunk_size(width, chunk_size):
    """The size of the chunks of `width` classes: at most `chunk_size`, dividing `width` if it can.

    The largest divisor of `width` not above `chunk_size`, if it is at least
    half of it (at most twice the chunks); otherwise `chunk_size`, with a
    last, smaller chunk for the rest. Equal chunks spare a copy: the
    gradient of a last chunk of another size is joined to the others' with a
    concatenation, one more D x C buffer where a backend cannot write in place
    (TensorFlow, PyTorch). At 10^6 classes: chunks of 8,000 for 8,192.

    >>> even_chunk_size(10**6, 8192), even_chunk_size(10**6, 32768), even_chunk_size(23, 5)
    (8000, 31250, 5)
    """
    chunk_size = min(int(chunk_size), width)
    for size in range(chunk_size, (chunk_size - 1) // 2, -1):
        if width % size == 0:
            return size
    return chunk_size


def sampled_count(width, sample_rate):
    """Classes a step keeps of a block of `width`: ``ceil(sample_rate * width)``, 1 to `width`."""
    return max(1, min(width, math.ceil(sample_rate * width)))


def sample_classes(class_ids, counted, num_classes, shards, count, seed, blocks=None):
    """`count` classes of each of `shards` blocks: the batch's classes, then others at random.

    Each class gets a key uniform in [0, 1), the batch's classes 2 more, and
    each block keeps the classes of its `count` largest keys: its classes in
    the batch, then a uniform sample of its others (Partial FC's sample, of
    a fixed size). The keys are ranked block by block, so that under a
    class split each device ranks its own classes.

    Args:
        class_ids: int32 class ids of shape (N,), in ``[0, num_classes)``.
        counted: Boolean (N,), the samples whose class must be kept (the
            others are ignored), or None for all.
        num_classes: C, a multiple of `shards`.
        shards: Blocks of classes (devices of a class split), each sampled
            on its own.
        count: Classes kept per block.
        seed: A `keras.random.SeedGenerator`.
        blocks: A function laying a tensor of `shards` rows out one row per
            device of the class split (`class_split`), or None.

    Returns:
        ``(kept, positions)``: the kept classes of each block, int32
        (shards, count), numbered within their block; each sample's
        position among the kept classes taken block after block, int32
        (N,), -1 where its class was not kept (a block holding more of the
        batch's classes than `count`).
    """
    width = num_classes // shards
    blocks = blocks or (lambda x: x)
    weights = ops.ones_like(class_ids) if counted is None else ops.cast(counted, "int32")
    in_batch = ops.scatter(ops.expand_dims(class_ids, -1), weights, (num_classes,))
    keys = keras.random.uniform((num_classes,), seed=seed)
    keys = keys + 2.0 * ops.cast(ops.greater(in_batch, 0), keys.dtype)
    keys = blocks(ops.reshape(keys, (shards, width)))
    if shards == 1:
        # The largest keys, and their positions + 1 scattered back (0: not kept).
        _, kept = ops.top_k(keys, count)
        kept = ops.cast(kept, "int32")
        slots = ops.scatter(
            ops.reshape(kept, (-1, 1)), ops.arange(1, count + 1, dtype="int32"), (num_classes,)
        )
        at = ops.take(slots, class_ids) - 1
    else:
        # Each class's rank in its block by two sorts along the blocks' own classes: XLA
        # sorts each device's block where it is, where its top_k and a scatter into the
        # blocks gather every device's keys (the class-split tests check the collectives).
        order = ops.argsort(-keys, axis=-1)
        kept = ops.cast(order[:, :count], "int32")
        rank = ops.cast(
            ops.take(ops.reshape(ops.argsort(order, axis=-1), (-1,)), class_ids), "int32"
        )
        at = ops.where(ops.less(rank, count), rank, -1)
    return kept, ops.where(ops.less(at, 0), -1, class_ids // width * count + at)


def sampled_columns(classifier, kept, subcenters):
    """The columns of the `kept` classes (`sample_classes`) of each block of `classifier`.

    Taken block by block (a block's own columns, on its own device under a
    class split), each class's `subcenters` side by side: (D, shards *
    count * subcenters).
    """
    units = classifier.shape[0]
    shards, count = kept.shape
    columns = kept
    if subcenters > 1:
        columns = ops.expand_dims(kept * subcenters, -1) + ops.arange(subcenters, dtype="int32")
        columns = ops.reshape(columns, (shards, count * subcenters))
    if shards == 1:  # a plain take: TensorFlow's gradient of take_along_axis is 3x slower
        return ops.take(classifier, ops.reshape(columns, (-1,)), axis=1)
    blocks = ops.reshape(classifier, (units, shards, -1))
    taken = ops.take_along_axis(blocks, ops.expand_dims(columns, 0), axis=-1)
    return ops.reshape(taken, (units, shards * count * subcenters))


def class_split(variable):
    """``(shards, blocks)``: the blocks of classes of `variable` (D, C) under the distribution.

    `shards` is 1 without a class split; `blocks` lays a tensor of `shards`
    rows out one row per device of the split (identity without one).
    """
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1, lambda x: x
    layout = distribution.get_variable_layout(variable)
    # No layout, or one without axes (a backend's own): not split by this distribution.
    name = (getattr(layout, "axes", None) or (None,))[-1]
    if name is None:
        return 1, lambda x: x
    mesh = layout.device_mesh

    def blocks(x):
        axes = (name,) + (None,) * (len(x.shape) - 1)
        return keras.distribution.distribute_tensor(x, keras.distribution.TensorLayout(axes, mesh))

    return mesh.shape[list(mesh.axis_names).index(name)], blocks


@keras.saving.register_keras_serializable(package="keras_wsoftmax")
class FusedLoss(keras.losses.Loss):
    """A margin loss of a `WSoftmaxHead`'s logits, computed from its FC features by chunks.

    Made by `WSoftmaxHead.fused_loss`: the model outputs the head's FC
    features (``WSoftmaxHead(..., output_mode="features")``) and this loss
    reads the head's classifier, so the (N, C) logits never exist. Its
    values and gradients are those of `loss` on the head's logits (with
    ``sample_rate < 1``, on the logits of each call's sample of classes:
    `sample_classes`, drawn from ``head.seed_generator``). Labels
    are class ids; ``loss.ignore_class``, sample weights and every
    reduction behave as in `loss`; a label that is not a class id raises
    when eager and gives its sample a NaN loss when compiled. A sample
    labelled ``ignore_class`` has loss 0 and gradient 0 whatever its
    features, NaN and inf included, and adds nothing to the classifier's
    gradient; a NaN in another sample's features makes that sample's loss
    NaN and no other's (the classifier's gradient, which every sample
    feeds, is then NaN, as with the unfused head). Float16 and bfloat16
    features are computed in float32, the loss in float32. Saved with a
    model, it comes back unbound (a loaded model has new layers), its
    `sample_rate` kept: compile the loaded model again with
    ``head.fused_loss(...)`` to train it.
    """

    def __init__(self, head, loss, chunk_size, head_name=None, sample_rate=1.0):
        super().__init__(name=f"fused_{loss.name}", reduction=loss.reduction, dtype=loss.dtype)
        _, _, scale = loss.fused_target()
        if head is not None and scale is not None and (not head.normalize or scale != head.scale):
            got = f"cosines of scale {head.scale:g}" if head.normalize else "plain logits"
            raise ValueError(
                f"{type(loss).__name__} reads cosines of scale {scale:g}, but the head gives "
                f"{got}: use a cosine head (normalize=True) of the loss's scale."
            )
        self.head, self.loss = head, loss
        self.head_name = head.name if head is not None else head_name
        self.chunk_size = checked_number(
            "chunk_size",
            chunk_size,
            integer=True,
            in_range=lambda c: c >= 1,
            expected="a positive integer",
        )
        self.sample_rate = checked_number(
            "sample_rate",
            sample_rate,
            integer=False,
            in_range=lambda r: 0 < r <= 1,
            expected="a number in (0, 1]: the share of the classes each step keeps",
        )

    def call(self, y_true, y_pred):
        head = self.head
        if head is None:
            raise ValueError(
                "This fused loss was loaded with its model and is bound to no head: compile "
                f"the model again with model.get_layer({self.head_name!r}).fused_loss(...)."
            )
        if len(y_pred.shape) != 2 or y_pred.shape[-1] != head.units:
            raise ValueError(
                f"A fused loss takes the head's FC features of shape (batch, {head.units}); "
                f"received shape {tuple(y_pred.shape)}: build the head with "
                'output_mode="features".'
            )
        # The labels as the unfused losses take them (class ids here): validity,
        # ignore_class, the eager error.
        targets = standardize_targets(
            ops.reshape(as_tensor(y_true), (-1,)), False, head.num_classes, self.loss.ignore_class
        )
        if targets.kept is not None:
            # An ignored sample's features never reach the chunks: its loss and
            # gradient are 0 whatever they are, and a NaN or inf there cannot
            # reach the classifier's gradient (0 x NaN) through the chunks' matmuls.
            y_pred = ops.where(ops.expand_dims(targets.kept, -1), y_pred, ops.zeros_like(y_pred))
        # Under a class split, each device chunks (and samples) its own classes.
        shards, blocks = class_split(head.classifier)
        class_ids = ops.squeeze(targets.class_ids, -1)
        width = head.num_classes // shards  # classes per block
        columns, count = None, sampled_count(width, self.sample_rate)
        if count < width:  # Partial FC: the logits of a sample of classes
            kept, class_ids = sample_classes(
                class_ids,
                targets.kept,
                head.num_classes,
                shards,
                count,
                head.seed_generator,
                blocks,
            )
            columns = sampled_columns(head.classifier, kept, head.subcenters)
        features, classifier, scale = head.logit_factors(y_pred, columns=columns)
        features = ops.cast(features, "float32")
        if scale is not None:
            features = scale * features
        # Read at each call: a change of the loss's parameter (loss.alpha = ...) applies.
        target, values, _ = self.loss.fused_target()
        losses = chunked_margin_losses(
            features,
            ops.cast(classifier, "float32"),
            ops.maximum(class_ids, 0),
            target,
            values,
            self.chunk_size,
            shards=shards,
            subcenters=head.subcenters,
        )
        if columns is not None:
            losses = self._unsampled_to_nan(losses, class_ids, targets.kept, count, width, shards)
        return masked(losses, targets)

    def _unsampled_to_nan(self, losses, positions, kept, count, width, shards):
        """NaN losses where a sample's class was not kept (an error when eager), not wrong ones."""
        missing = ops.less(positions, 0)
        if kept is not None:
            missing = ops.logical_and(missing, kept)
        found = eager_numpy(missing)
        if found is not None and found.any():
            index = int(found.nonzero()[0][0])
            per = " per device" if shards > 1 else ""
            batch = len(found)
            raise ValueError(
                f"The batch's classes do not fit the {count} classes{per} that sample_rate="
                f"{self.sample_rate:g} keeps a step: the class of the sample at index {index} "
                f"was left out. Use sample_rate >= batch size / classes{per} ({batch} / {width} "
                f"= {batch / width:.3g}), or smaller batches."
            )
        return ops.where(missing, math.nan, losses)

    def get_config(self):
        return {
            "loss": keras.saving.serialize_keras_object(self.loss),
            "chunk_size": self.chunk_size,
            "head_name": self.head_name,
            "sample_rate": self.sample_rate,
        }

    @classmethod
    def from_config(cls, config):
        loss = keras.saving.deserialize_keras_object(config["loss"])
        return cls(
            None,
            loss,
            config["chunk_size"],
            head_name=config["head_name"],
            sample_rate=config.get("sample_rate", 1.0),
        )
