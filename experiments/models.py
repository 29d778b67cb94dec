"""The models the studies train: the Keras MNIST example CNN for images, an MLP for vectors.

Both end in `WSoftmaxHead`; `for_inputs` picks by the input's rank. Unless
given `units`, the head is at the paper's width, `min_units`, not at the
head's default `recommended_units`: the studies measure the paper's
configuration, and their committed reports were run there.
"""

import keras

from keras_wsoftmax import WSoftmaxHead, min_units


def cnn(input_shape, num_classes, seed, dropout=0.5, **head_kwargs):
    """The Keras MNIST example CNN, with `WSoftmaxHead` as its classifier.

    Each call starts from a cleared Keras session and the given seed, so runs
    in one process do not pile up state or share random streams, and two
    calls with one seed and one head start from the same weights. `dropout`
    is the rate before the head (0 leaves the layer out).
    """

    def backbone():
        return [
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
        ]

    return _with_head(backbone, input_shape, num_classes, seed, dropout, head_kwargs)


def mlp(input_shape, num_classes, seed, dropout=0.5, hidden=512, depth=2, **head_kwargs):
    """`depth` ReLU layers of `hidden` units, dropout, and `WSoftmaxHead`; fresh session and seed as `cnn`."""

    def backbone():
        return [keras.layers.Dense(hidden, activation="relu") for _ in range(depth)]

    return _with_head(backbone, input_shape, num_classes, seed, dropout, head_kwargs)


def _with_head(backbone, input_shape, num_classes, seed, dropout, head_kwargs):
    """``Input -> backbone() -> Dropout -> WSoftmaxHead``, built after clearing the session and seeding."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    layers = [keras.Input(input_shape), *backbone()]
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    if head_kwargs.get("units") is None:
        head_kwargs["units"] = min_units(num_classes, head_kwargs.get("activation", "relu"))
    return keras.Sequential([*layers, WSoftmaxHead(num_classes, **head_kwargs)])


def for_inputs(input_shape, num_classes, seed, dropout=0.5, mlp_shape=None, **head_kwargs):
    """`cnn` for images (height, width, channels), `mlp` for feature vectors.

    `mlp_shape` is the MLP's ``(depth, hidden)`` (default: two layers of 512).
    """
    if len(input_shape) == 3:
        if mlp_shape is not None:
            raise ValueError(f"mlp_shape is for vector inputs; received images of {input_shape}.")
        return cnn(input_shape, num_classes, seed, dropout=dropout, **head_kwargs)
    depth, hidden = mlp_shape or (2, 512)
    return mlp(
        input_shape, num_classes, seed, dropout=dropout, hidden=hidden, depth=depth, **head_kwargs
    )


def head_flops(input_dim, units, num_classes, normalize=True):
    """Floating-point operations of one example through the head, counted.

    FC layer ``2 * input_dim * units`` plus ``2 * units`` (bias, activation),
    classifier ``2 * units * num_classes``; for cosine logits, normalizing
    the feature (``3 * units``) and scaling the ``num_classes`` logits. The
    class weights' norms are paid once per batch, not per example, and are
    left out.
    """
    fc = 2 * input_dim * units + 2 * units
    classifier = 2 * units * num_classes
    norm = 3 * units + num_classes if normalize else 0
    return fc + classifier + norm
