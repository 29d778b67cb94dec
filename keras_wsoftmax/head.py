"""The sized classifier head: an FC layer, then a bias-free classifier."""

import random as python_random
import re
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from keras_wsoftmax._checks import checked_number
from keras_wsoftmax._fused import FusedLoss
from keras_wsoftmax._subcenters import class_logits
from keras_wsoftmax._types import Tensor
from keras_wsoftmax.sizing import (
    checked_scale,
    recommended_scale,
    recommended_units,
    validate_num_classes,
)

# Classes per chunk of a fused loss (`WSoftmaxHead.fused_loss`): at 512
# samples, 16 MiB of float32 logits per chunk (docs/scaling.md says how it
# was chosen).
DEFAULT_CHUNK_SIZE = 8192

# Squared-norm floor for the L2 normalization: a dead (all-zero) ReLU feature
# vector gets all-zero logits instead of a division by zero.
_SQUARED_NORM_FLOOR = 1e-12


@keras.saving.register_keras_serializable(package="keras_wsoftmax")
class WSoftmaxHead(keras.layers.Layer):
    """FC layer of `units` units followed by a bias-free `num_classes` classifier.

    Returns logits for `keras_wsoftmax.WSoftmax`. With ``normalize=True`` the
    FC features ``h`` and the class weights ``W_j`` are L2-normalized and the
    logits are ``scale * cos(angle(h, W_j))``: bounded logits, where the
    margin that W-Softmax asks for is an angular margin. With
    ``normalize=False`` they are the plain ``W_j^T h`` of the paper.

    Args:
        num_classes: Number of classes ``C >= 2``.
        units: FC width. ``None`` (default) means
            ``recommended_units(num_classes, activation)``: 16 per class, at
            most 4096, never below `min_units` (160 units for 10 classes).
            The paper's smaller minimum is
            ``units=min_units(num_classes, activation)``.
        activation: Activation of the FC layer. Defaults to ``"relu"``.
        normalize: Whether the logits are scaled cosines (default) or plain
            dot products.
        scale: Multiplier of the cosines when ``normalize=True``, a finite
            number > 0. ``None`` (default) means
            ``recommended_scale(num_classes)``: 16 below 100 classes, 32
            from 100 on. A cosine loss takes the same:
            ``CosFace(scale=head.scale)``.
        use_bias: Whether the FC layer has a bias (the classifier has none).
        kernel_initializer: As in `keras.layers.Dense`, for the FC layer.
        bias_initializer: As in `keras.layers.Dense`, for the FC layer.
        classifier_initializer: The initializer of the classifier weights
            (shape ``(units, num_classes * subcenters)``).
        kernel_regularizer: As in `keras.layers.Dense`, for the FC layer.
        bias_regularizer: As in `keras.layers.Dense`, for the FC layer.
        classifier_regularizer: The regularizer of the classifier weights.
        kernel_constraint: As in `keras.layers.Dense`, for the FC layer.
        bias_constraint: As in `keras.layers.Dense`, for the FC layer.
        classifier_constraint: The constraint of the classifier weights.
        output_mode: ``"logits"`` (default), or ``"features"``: the layer returns
            its FC features and leaves the logits to a fused loss
            (`fused_loss`) or to `logits`.
        subcenters: Class weights per class, ``K >= 1`` (default 1): each
            class's logit is the largest of its K (sub-center margins, Deng
            et al. 2020), so that a class of several modes, or samples with
            noisy labels, can gather at a sub-center of their own; the
            classifier has ``num_classes * K`` columns, each class's K side
            by side. Every loss applies unchanged to the class logits, whose
            gradient goes to the best sub-center (the first on a tie).
        **kwargs: Base layer arguments (`name`, `dtype`,
            `activity_regularizer`, ...).

    Attributes:
        seed_generator: The head's random state, a
            `keras.random.SeedGenerator` made with the weights (None until
            the head is built): a non-trainable variable of the model,
            carried through compiled and stateless steps, not saved. A
            fused loss that samples classes (`fused_loss` with
            ``sample_rate < 1``) draws from it.

    Raises:
        ValueError: for a `num_classes` below 2, a `units` that is not a
            positive integer, a `scale` that is not a finite number > 0, or
            an unknown `output_mode`, or a `subcenters` that is not a
            positive integer, naming the value.

    Call arguments:
        inputs: Features of shape ``(..., input_dim)``.
        return_features: If True, return ``(logits, features)`` where
            `features` are the FC activations ``h``.

    The FC features of a trained model, for plots or retrieval:

    ```python
    backbone = keras.Model(model.inputs, head.input)
    features = head.features(backbone.predict(x))
    ```
    """

    def __init__(
        self,
        num_classes: int,
        units: int | None = None,
        activation: str | Callable | None = "relu",
        normalize: bool = True,
        scale: float | None = None,
        use_bias: bool = True,
        kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
        bias_initializer: str | keras.initializers.Initializer = "zeros",
        classifier_initializer: str | keras.initializers.Initializer = "glorot_uniform",
        kernel_regularizer: str | keras.regularizers.Regularizer | None = None,
        bias_regularizer: str | keras.regularizers.Regularizer | None = None,
        classifier_regularizer: str | keras.regularizers.Regularizer | None = None,
        kernel_constraint: str | keras.constraints.Constraint | None = None,
        bias_constraint: str | keras.constraints.Constraint | None = None,
        classifier_constraint: str | keras.constraints.Constraint | None = None,
        output_mode: str = "logits",
        subcenters: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output_mode not in ("logits", "features"):
            raise ValueError(
                f'output_mode must be "logits" or "features"; received {output_mode!r}.'
            )
        self.output_mode = output_mode
        self.subcenters = checked_number(
            "subcenters",
            subcenters,
            integer=True,
            in_range=lambda k: k >= 1,
            expected="a positive integer (class weights per class)",
        )
        num_classes = validate_num_classes(num_classes)
        if units is None:
            units = recommended_units(num_classes, activation)
        else:
            units = checked_number(
                "units",
                units,
                integer=True,
                in_range=lambda u: u >= 1,
                expected="a positive integer or None",
            )
        self.num_classes = num_classes
        self.units = units
        self.activation = keras.activations.get(activation)
        self.normalize = bool(normalize)
        self.scale = recommended_scale(num_classes) if scale is None else checked_scale(scale)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.classifier_initializer = keras.initializers.get(classifier_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.classifier_regularizer = keras.regularizers.get(classifier_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.classifier_constraint = keras.constraints.get(classifier_constraint)
        self.input_spec = keras.layers.InputSpec(min_ndim=2)
        # Made in `build`, with the weights (under a distribution, where they are made).
        # Seeded by `fused_loss` when it samples classes; the fixed seed until then draws
        # nothing from the global random state, so a head leaves other layers' seeds alone.
        self.seed_generator = None
        self._sample_seed = 0

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: input_dim})
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.classifier = self.add_weight(
            name="classifier",
            shape=(self.units, self.num_classes * self.subcenters),
            initializer=self.classifier_initializer,
            regularizer=self.classifier_regularizer,
            constraint=self.classifier_constraint,
        )
        self.seed_generator = keras.random.SeedGenerator(self._sample_seed)

    def call(self, inputs, return_features=False):
        features = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            features = ops.add(features, self.bias)
        features = self.activation(features)
        if self.output_mode == "features":
            return features
        logits = self.logits(features)
        if return_features:
            return logits, features
        return logits

    def logit_factors(
        self, features: Tensor, columns: Tensor | None = None
    ) -> tuple[Tensor, Tensor, float | None]:
        """The factors of this head's logits of FC features ``h``: ``(a, b, scale)``.

        The columns' logits are ``scale * (a @ b)``, or ``a @ b`` where
        `scale` is None; `a` has a row per sample, `b` a column per class
        weight: ``num_classes * subcenters`` columns, each class's
        `subcenters` side by side, and a class's logit is the largest of
        its columns' (the column itself when ``subcenters=1``). With
        ``normalize=True``: the unit features and the unit class weights,
        in float32 (squares of float16 features overflow above 256; a
        feature vector or class weight of norm 0 stays 0), and this head's
        `scale`. With ``normalize=False``: the features and the classifier
        as they are, and None. `logits` multiplies them; a fused loss
        (`fused_loss`) multiplies them by chunks of classes. `columns`, some
        of the classifier's columns (the weights of a sample of classes,
        taken from `classifier`), stand in for all of them: `b` then has
        those columns only, made as it would make them.
        """
        weights = self.classifier if columns is None else columns
        if not self.normalize:
            return features, weights, None
        h = ops.cast(features, "float32")
        w = ops.cast(weights, "float32")
        h = h * ops.rsqrt(
            ops.maximum(ops.sum(ops.square(h), axis=-1, keepdims=True), _SQUARED_NORM_FLOOR)
        )
        w = w * ops.rsqrt(
            ops.maximum(ops.sum(ops.square(w), axis=0, keepdims=True), _SQUARED_NORM_FLOOR)
        )
        return h, w, self.scale

    def features(self, inputs: Tensor) -> Tensor:
        """The FC activations ``h`` for `inputs`, the arrays the head takes."""
        if self.output_mode == "features":
            return self(inputs)
        return self(inputs, return_features=True)[1]

    def logits(self, features: Tensor) -> Tensor:
        """The logits of FC features ``h`` (what a head of ``output_mode="features"`` outputs)."""
        a, b, scale = self.logit_factors(features)
        logits = class_logits(a, b, self.subcenters)
        if scale is None:
            return logits
        return ops.cast(scale * logits, self.compute_dtype)

    def fused_loss(
        self,
        loss: keras.losses.Loss,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        sample_rate: float = 1.0,
        seed: int | None = None,
    ) -> keras.losses.Loss:
        """`loss` on this head's logits, computed from its FC features by chunks of classes.

        For many classes: the model outputs this head's FC features
        (``output_mode="features"``) and the returned `keras.losses.Loss` reads the
        classifier itself, `chunk_size` classes at a time, so that the
        (batch, num_classes) logits and their gradient never exist; values
        and gradients are those of `loss` on the logits. `loss` is a
        `WSoftmax`, `CosFace` or `ArcFace` (the cosine losses of this head's
        scale). Predict with ``head.logits(model.predict(x))``. Saved with
        the model, the loss comes back bound to no head (it says so when
        called): compile the loaded model again with its head's
        `fused_loss`. A stateless training step of your own (JAX) calls the
        loss inside ``keras.StatelessScope`` of the trainable variables, as
        `fit` does (``model.stateless_compute_loss``), so that it reads the
        traced classifier; with ``sample_rate < 1`` it maps the
        non-trainable variables too and keeps the new values that
        ``stateless_compute_loss`` returns (the `seed_generator` moves on
        each step).

        With ``sample_rate < 1`` (Partial FC, An et al. 2021) each call
        keeps ``M = ceil(sample_rate * num_classes)`` classes (per device
        under a class split: ``ceil(sample_rate * num_classes / devices)``
        of its own), a count fixed so that compiled steps keep their
        shapes: the batch's classes, then a uniform random sample of the
        others, drawn from this head's `seed_generator`. The loss and its
        gradients are those of `loss` on the logits of the kept classes
        only (the classifier's gradient is 0 in the other columns), so the
        step's classifier work shrinks by `sample_rate`, and the loss is
        never above the full one (a softmax over fewer negatives). Keep
        ``M`` at least the batch size (``sample_rate >= batch_size /
        num_classes``, per device under a split) so that every batch's
        classes fit; a sample whose class did not fit gets a NaN loss (a
        `ValueError` when eager). `fit` and `evaluate` report this sampled
        loss; `logits` and predictions use every class.

        Args:
            loss: A `WSoftmax`, `CosFace` or `ArcFace` instance.
            chunk_size: Classes per chunk, a positive integer (default
                8,192); chunks are made equal where the class count allows.
            sample_rate: The share of the classes each call keeps, in
                ``(0, 1]``; 1 (default) keeps them all.
            seed: The class sample's seed, an integer; None draws one from
                Python's `random` (reproducible under
                `keras.utils.set_random_seed`). Used when ``sample_rate <
                1``: it restarts this head's `seed_generator`.

        Returns:
            A `keras.losses.Loss` of ``(labels, features)``.

        Raises:
            ValueError: for a cosine loss on a head of plain logits or of
                another scale, a `chunk_size` that is not a positive
                integer, a `sample_rate` outside ``(0, 1]``, or a `seed`
                that is not an integer in ``[0, 2**31)``.

        ```python
        head = WSoftmaxHead(1_000_000, units=128, output_mode="features")
        model = keras.Sequential([backbone, head])
        model.compile(optimizer="adam", loss=head.fused_loss(WSoftmax(0.2)))
        # Partial FC: a tenth of the classes a step, the batch's among them.
        model.compile(optimizer="adam", loss=head.fused_loss(WSoftmax(0.2), sample_rate=0.1))
        ```
        """
        fused = FusedLoss(self, loss, chunk_size, sample_rate=sample_rate)
        if fused.sample_rate < 1:
            if seed is None:
                seed = python_random.randint(1, 10**9)  # as keras.random.SeedGenerator(None)
            seed = checked_number(
                "seed",
                seed,
                integer=True,
                in_range=lambda s: 0 <= s < 2**31,
                expected="an integer in [0, 2**31) or None",
            )
            self._sample_seed = seed
            if self.seed_generator is not None:  # built: restart it
                state = self.seed_generator.state
                state.assign(ops.convert_to_tensor([seed, 0], dtype=state.dtype))
        return fused

    def get_layout_map(
        self,
        device_mesh: keras.distribution.DeviceMesh,
        model_parallel_dim_name: str = "model",
        data_parallel_dim_name: str = "batch",
        layout_map: keras.distribution.LayoutMap | None = None,
    ) -> keras.distribution.LayoutMap:
        """Layouts that split this head's classifier by classes, for `ModelParallel`.

        In the manner of keras-hub's ``Backbone.get_layout_map``: the
        classifier (shape ``(units, num_classes * subcenters)``, a class's
        sub-centers side by side and so on one device), and with it the
        optimizer's state for it, is split along the classes over the mesh
        axis `model_parallel_dim_name`; the logits come out split
        ``(batch, classes)`` over both axes; the FC kernel and bias stay
        replicated (they are small: ``input_dim x units``). With
        ``normalize=True`` the per-class norms are computed on each
        device's own classes. `WSoftmax` then reduces the class-split
        logits with all-reduces of ``(batch,)`` vectors, never gathering
        the logits or the classifier. With ``output_mode="features"`` the
        features come out split by samples only, and `fused_loss` chunks
        each device's own classes.

        Call it before the model is built, under no distribution yet; the
        layouts apply to weights created after
        `keras.distribution.set_distribution`:

        ```python
        mesh = keras.distribution.DeviceMesh((2, 4), ["batch", "model"])
        head = WSoftmaxHead(1_000_000, units=512)
        keras.distribution.set_distribution(
            keras.distribution.ModelParallel(
                layout_map=head.get_layout_map(mesh), batch_dim_name="batch"
            )
        )
        model = keras.Sequential([backbone, head])  # built under the distribution
        ```

        Args:
            device_mesh: A `keras.distribution.DeviceMesh` with both axes.
            model_parallel_dim_name: The mesh axis the classes are split on.
            data_parallel_dim_name: The mesh axis the batch is split on.
            layout_map: A `keras.distribution.LayoutMap` to add this head's
                entries to (the rest of the model's), or None for a new one.

        Returns:
            The `LayoutMap`, keyed by regular expressions on the weights'
            and the output's paths (which end in ``{head name}/...``).

        Raises:
            ValueError: if the mesh lacks either axis, naming its axes.
        """
        for axis in (model_parallel_dim_name, data_parallel_dim_name):
            if axis not in device_mesh.axis_names:
                raise ValueError(
                    f"The device mesh has no axis {axis!r}; its axes are "
                    f"{list(device_mesh.axis_names)}."
                )
        if layout_map is None:
            layout_map = keras.distribution.LayoutMap(device_mesh)
        # A path is the parents' names, then this layer's: match on the last parts.
        path = f"(.*/)?{re.escape(self.name)}"
        layout_map[f"{path}/classifier"] = (None, model_parallel_dim_name)
        # The logits come out split by classes; FC features (output_mode="features",
        # for a fused loss, which chunks each device's classes) by samples only.
        classes = model_parallel_dim_name if self.output_mode == "logits" else None
        layout_map[f"{path}/output"] = (data_parallel_dim_name, classes)
        return layout_map

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "normalize": self.normalize,
                "scale": self.scale,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "classifier_initializer": keras.initializers.serialize(self.classifier_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "classifier_regularizer": keras.regularizers.serialize(self.classifier_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "classifier_constraint": keras.constraints.serialize(self.classifier_constraint),
                "output_mode": self.output_mode,
                "subcenters": self.subcenters,
            }
        )
        return config
