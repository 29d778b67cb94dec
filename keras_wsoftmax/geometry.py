"""What a margin loss changes, measured: feature geometry and calibration.

The paper claims tighter classes and wider separation; a margin also changes
how confident the model is. `feature_geometry` and
`expected_calibration_error` measure both on arrays, and the `FeatureGeometry`
callback measures them during `fit()` on a validation set, so that users can
compare losses on their own data.
"""

import keras
import numpy as np
from numpy.typing import ArrayLike

from keras_wsoftmax._checks import checked_number
from keras_wsoftmax.head import WSoftmaxHead


def angle_degrees(a, b):
    """Angle in degrees between the vectors of `a` and `b` along the last axis."""
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _pairwise_angles_degrees(vectors):
    """Angles in degrees between every two rows of `vectors`, as a square matrix.

    One matrix product of the unit rows: broadcasting `angle_degrees` over
    all pairs would hold a (rows, rows, dim) array, 30 GiB at 1000 classes of
    4000 features.
    """
    unit = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip(unit @ unit.T, -1.0, 1.0)))


def feature_geometry(features: ArrayLike, labels: ArrayLike) -> dict:
    """Intra-class compactness and inter-class separation of features, as angles.

    Returns a dict of degrees and fractions:

    - ``compactness_deg``: mean angle between a feature and its class mean
      (smaller is tighter);
    - ``separation_min_deg`` / ``separation_mean_deg``: smallest and mean
      angle between two class means (larger is more separated);
    - ``dead_feature_fraction``: samples whose features are all zero (every
      ReLU off); they have no direction and are left out of the angles.

    Args:
        features: Features of shape ``(N, D)``.
        labels: Integer class ids of shape ``(N,)`` or ``(N, 1)``.

    Returns:
        The dict above, of Python floats.

    Raises:
        ValueError: if fewer than 2 classes have a feature that is not all
            zero.

    Example:

    >>> features = np.array([[1.0, 0.1], [1.0, -0.1], [0.1, 1.0], [-0.1, 1.0]])
    >>> geometry = feature_geometry(features, np.array([0, 0, 1, 1]))
    >>> round(geometry["separation_min_deg"])
    90
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    alive = np.linalg.norm(features, axis=-1) > 0
    features, labels = features[alive], labels[alive]
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(
            f"feature_geometry needs features of at least 2 classes; received {len(classes)}."
        )
    means = np.stack([features[labels == c].mean(axis=0) for c in classes])
    index = np.searchsorted(classes, labels)
    pairs = _pairwise_angles_degrees(means)[np.triu_indices(len(classes), k=1)]
    return {
        "compactness_deg": float(angle_degrees(features, means[index]).mean()),
        "separation_min_deg": float(pairs.min()),
        "separation_mean_deg": float(pairs.mean()),
        "dead_feature_fraction": float(1.0 - alive.mean()),
    }


def subcenter_angles(
    head: WSoftmaxHead, features: ArrayLike, labels: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's angle to its class's dominant sub-center: the cleaning step of sub-centers.

    A head with ``subcenters=K`` has K class weights per class. A class's
    dominant sub-center is the one that most of its samples lie closest to
    (by angle); the others gather its hard or mislabelled samples (Deng et
    al., "Sub-center ArcFace", ECCV 2020). The paper's recipe for noisy
    labels: train with ``subcenters=3``; compute these angles on the
    training set; drop the samples whose angle passes a threshold (read it
    off the angles' histogram: the clean samples' mode and the far tail);
    train again with ``subcenters=1`` on what is left.

    Args:
        head: A built `WSoftmaxHead` (any `subcenters`; with 1 the angle is
            to the class weight itself).
        features: The head's FC features of shape ``(N, head.units)``
            (`WSoftmaxHead.features`).
        labels: Class ids of shape ``(N,)`` or ``(N, 1)``, in
            ``[0, head.num_classes)``.

    Returns:
        ``(angles, dominant)``: the angles in degrees, shape ``(N,)`` (NaN
        for an all-zero feature vector, which has no direction), and each
        class's dominant sub-center, shape ``(num_classes,)`` (0 for a class
        without samples).

    Raises:
        ValueError: for features that are not ``(N, head.units)``, labels
            of another length or not class ids, or a head not yet built.

    Example:

    >>> head = WSoftmaxHead(2, units=2, subcenters=2)
    >>> head.build((None, 2))
    >>> _ = head.classifier.assign(np.array([[1.0, 0.0, 0.0, -1.0], [0.0, 1.0, 1.0, 0.0]]))
    >>> features = np.array([[1.0, 0.1], [1.0, -0.1], [0.0, 1.0], [-1.0, 0.0]])
    >>> angles, dominant = subcenter_angles(head, features, np.array([0, 0, 0, 1]))
    >>> print(np.round(angles).tolist(), dominant.tolist())
    [6.0, 6.0, 90.0, 0.0] [0, 1]
    """
    if not head.built:
        raise ValueError("subcenter_angles needs a built head: call it on inputs or build it.")
    features = keras.ops.convert_to_numpy(features).astype(np.float64)
    labels = keras.ops.convert_to_numpy(labels).reshape(-1)
    if features.ndim != 2 or features.shape[1] != head.units:
        raise ValueError(
            f"Features must have shape (N, {head.units}), the head's FC width; "
            f"received shape {features.shape}."
        )
    if len(labels) != len(features):
        raise ValueError(f"{len(labels)} labels for {len(features)} feature vectors.")
    valid = (labels == np.floor(labels)) & (labels >= 0) & (labels < head.num_classes)
    if not valid.all():
        index = int(np.flatnonzero(~valid)[0])
        raise ValueError(
            f"Label {labels[index].item()!r} at index {index} is not a class id in "
            f"[0, {head.num_classes})."
        )
    labels = labels.astype(int)
    weights = keras.ops.convert_to_numpy(head.classifier).astype(np.float64)
    weights = weights.reshape(head.units, head.num_classes, head.subcenters)
    weights = weights / np.maximum(np.linalg.norm(weights, axis=0, keepdims=True), 1e-300)
    norms = np.linalg.norm(features, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = features / norms  # NaN rows where a feature vector is all zero
    # Cosines of each sample to its own class's K sub-centers: (N, K).
    cosines = np.einsum("nd,dnk->nk", unit, weights[:, labels, :])
    nearest = np.argmax(np.nan_to_num(cosines, nan=-np.inf), axis=-1)
    alive = norms[:, 0] > 0
    counts = np.zeros((head.num_classes, head.subcenters), dtype=int)
    np.add.at(counts, (labels[alive], nearest[alive]), 1)
    dominant = np.argmax(counts, axis=-1)
    cosine = cosines[np.arange(len(labels)), dominant[labels]]
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))), dominant


def softmax(logits):
    """Row-wise softmax of NumPy logits, in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def expected_calibration_error(logits: ArrayLike, labels: ArrayLike, bins: int = 15) -> float:
    """Expected calibration error of the softmax of `logits`, in [0, 1].

    Predictions are grouped by confidence (the largest softmax probability)
    into `bins` equal-width bins on [0, 1]; the ECE is the average over
    bins, weighted by their share of the samples, of
    ``|accuracy - mean confidence|`` in the bin (Guo et al., 2017).
    Above 0: over- or under-confident.

    Args:
        logits: Logits of shape ``(N, C)``.
        labels: Integer class ids of shape ``(N,)`` or ``(N, 1)``.
        bins: The number of confidence bins. Defaults to 15.

    Returns:
        The ECE, a Python float in [0, 1].

    Example:

    >>> logits = np.log(np.array([[0.9, 0.1], [0.9, 0.1]]))
    >>> round(expected_calibration_error(logits, np.array([0, 1])), 3)  # 90% sure, 50% right
    0.4
    """
    probabilities = softmax(logits)
    labels = np.asarray(labels).reshape(-1)
    confidence = probabilities.max(axis=-1)
    correct = probabilities.argmax(axis=-1) == labels
    # Bin b holds confidences in (b / bins, (b + 1) / bins]; 0 joins the first bin.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def head_outputs(backbone, head, x, batch_size=256):
    """Logits, FC features and head inputs, as NumPy arrays, for inputs `x`.

    `backbone` maps the model's inputs to the head's input (for a model whose
    head is one of its layers: ``keras.Model(model.inputs, head.input)``);
    one prediction pass of it, then the head on its output, in batches. A
    head of ``output_mode="features"`` (trained with a fused loss) gives its
    logits through `WSoftmaxHead.logits`, of every class.
    """
    inputs = backbone.predict(x, batch_size=batch_size, verbose=0)
    logits, features = [], []
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start : start + batch_size]
        if head.output_mode == "features":
            batch_features = head(batch)
            batch_logits = head.logits(batch_features)
        else:
            batch_logits, batch_features = head(batch, return_features=True)
        logits.append(keras.ops.convert_to_numpy(batch_logits))
        features.append(keras.ops.convert_to_numpy(batch_features))
    return np.concatenate(logits), np.concatenate(features), inputs


class FeatureGeometry(keras.callbacks.Callback):
    """Adds compactness, separation and calibration on a validation set to the logs.

    Every `every` epochs (and after the last one), runs the model's
    `WSoftmaxHead` on `validation_data` and adds to the epoch's logs:

    - ``val_compactness_deg``, ``val_separation_min_deg``,
      ``val_separation_mean_deg``: `feature_geometry` of the head's FC
      features;
    - ``val_ece``: `expected_calibration_error` (15 bins) of the head's logits.

    `History`, `CSVLogger` and `TensorBoard` record them like any metric.
    Epochs it skips cost nothing; an epoch it runs costs one prediction pass
    over `validation_data`. Place it before `CSVLogger` in the callbacks
    list, and keep ``every=1`` for `CSVLogger`, which fixes its columns at
    the first epoch.

    Args:
        validation_data: ``(x, y)`` with integer class ids `y`.
        every: Run at epochs ``every - 1, 2 * every - 1, ...`` (from 0) and
            at the last epoch. Defaults to 1.
        batch_size: Batch size of the prediction pass.
        bins: Confidence bins of the ECE. Defaults to 15.
        head: The `WSoftmaxHead` to measure; defaults to the only one among
            the model's layers. It must be a layer of the model's own graph
            (not inside a nested model): its input is read from it.

    Example:

    ```python
    geometry = FeatureGeometry((x_val, y_val), every=5)
    history = model.fit(x, y, epochs=20, callbacks=[geometry])
    history.history["val_compactness_deg"]  # 4 values: epochs 5, 10, 15, 20
    ```
    """

    def __init__(
        self,
        validation_data: tuple,
        every: int = 1,
        batch_size: int = 256,
        bins: int = 15,
        head: keras.layers.Layer | None = None,
    ) -> None:
        super().__init__()
        every = checked_number(
            "every", every, integer=True, in_range=lambda e: e >= 1, expected="a positive integer"
        )
        x, y = validation_data
        self.x = x
        self.y = np.asarray(y).reshape(-1)
        self.every = every
        self.batch_size = batch_size
        self.bins = bins
        self.head = head
        self._backbone = None

    def _find_head(self):
        if self.head is not None:
            return self.head
        heads = [layer for layer in self.model.layers if isinstance(layer, WSoftmaxHead)]
        if len(heads) != 1:
            raise ValueError(
                "FeatureGeometry needs a model with exactly one WSoftmaxHead among its "
                f"layers, or head=...; found {len(heads)}."
            )
        return heads[0]

    def on_train_begin(self, logs=None):
        self.head = self._find_head()
        # The head's input as a model of its own: its FC features and logits
        # then come from one pass of the head over the backbone's output.
        self._backbone = keras.Model(self.model.inputs, self.head.input)

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == self.params.get("epochs")
        if logs is None or not ((epoch + 1) % self.every == 0 or last):
            return
        logs.update(self.measure())

    def measure(self):
        """The geometry and ECE of the model now, as a dict of floats (``val_`` keys)."""
        logits, features, _ = head_outputs(self._backbone, self.head, self.x, self.batch_size)
        geometry = feature_geometry(features, self.y)
        return {
            "val_compactness_deg": geometry["compactness_deg"],
            "val_separation_min_deg": geometry["separation_min_deg"],
            "val_separation_mean_deg": geometry["separation_mean_deg"],
            "val_ece": expected_calibration_error(logits, self.y, self.bins),
        }
