"""Training and inference for the studies: one `fit`, then everything measured on its outputs."""

import time

import keras
import numpy as np

from keras_wsoftmax import WSoftmaxHead
from keras_wsoftmax.geometry import head_outputs


def make_deterministic():
    """Makes training reproducible on this backend; returns what was done, for the report.

    TensorFlow: op determinism (`tf.config.experimental.enable_op_determinism`:
    deterministic kernels and reductions; without it, two runs of one seed
    on a CPU differ). PyTorch: `torch.use_deterministic_algorithms`. JAX on a
    CPU is deterministic as it is.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        return "TensorFlow op determinism"
    if backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)
        return "torch.use_deterministic_algorithms(True)"
    return "JAX (deterministic as it is)"


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each training epoch, in seconds."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class StopWhenFitted(keras.callbacks.Callback):
    """Stops training at the end of the first epoch whose training accuracy reaches `target`.

    "Trained until it fits" as a budget: each run stops when it has fitted,
    not after a count of epochs that fits some losses and not others.
    """

    def __init__(self, target):
        super().__init__()
        self.target = target

    def on_epoch_end(self, epoch, logs=None):
        if logs["accuracy"] >= self.target:
            self.model.stop_training = True


def head_of(model):
    """The model's `WSoftmaxHead` (its last layer)."""
    head = model.layers[-1]
    if not isinstance(head, WSoftmaxHead):
        raise ValueError(f"the studies' models end in a WSoftmaxHead; this one ends in {head!r}.")
    return head


def train(
    model,
    loss,
    dataset,
    epochs,
    batch_size,
    verbose=0,
    validate=False,
    fit_target=None,
    optimizer=None,
):
    """Fits `model` with `loss` and `optimizer` (default Adam 1e-3) on `dataset`'s training set.

    At most `epochs` epochs; with `fit_target`, training stops early once an
    epoch's training accuracy reaches it (`StopWhenFitted`). Returns
    ``(result, history)``: `result` holds the test accuracy and
    cross-entropy, the epoch times (one per epoch trained) and the head's
    size; `history` is Keras's per-epoch history (with the test set as
    validation data if `validate`). A head of ``output_mode="features"``
    (a fused `loss`) outputs no logits for Keras's metrics: its history
    holds the loss only, and its test measures come from the logits of
    every class (`outputs`).
    """
    head = head_of(model)
    logits_out = head.output_mode != "features"
    if not logits_out and (fit_target or validate):
        raise ValueError(
            "fit_target and validate need Keras's accuracy metric, which reads logits; "
            f"a head of output_mode={head.output_mode!r} outputs features."
        )
    metrics = [
        "accuracy",
        keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="cross_entropy"),
    ]
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(1e-3),
        loss=loss,
        metrics=metrics if logits_out else None,
    )
    timer = EpochTimer()
    history = model.fit(
        dataset.x_train,
        dataset.y_train,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(dataset.x_test, dataset.y_test) if validate else None,
        callbacks=[timer] + ([StopWhenFitted(fit_target)] if fit_target else []),
        verbose=verbose,
    )
    if logits_out:
        _, accuracy, cross_entropy = model.evaluate(dataset.x_test, dataset.y_test, verbose=0)
    else:
        logits = outputs(model, dataset.x_test)[0]
        accuracy = np.mean(logits.argmax(-1) == dataset.y_test)
        cross_entropy = np.mean(
            keras.ops.convert_to_numpy(
                keras.losses.sparse_categorical_crossentropy(
                    dataset.y_test, logits, from_logits=True
                )
            )
        )
    result = {
        "test_accuracy": float(accuracy),
        "test_cross_entropy": float(cross_entropy),
        "epoch_seconds": timer.seconds,
        "epochs_trained": len(timer.seconds),
        "mean_epoch_seconds": float(np.mean(timer.seconds)),
        "head_units": head.units,
        "head_parameters": int(head.count_params()),
        "model_parameters": int(model.count_params()),
    }
    return result, {k: [float(v) for v in vs] for k, vs in history.history.items()}


def outputs(model, x, batch_size=1024):
    """Logits, the head's FC features and the backbone features (the head's input) for `x`."""
    head = head_of(model)
    return head_outputs(keras.Model(model.inputs, head.input), head, x, batch_size)


def step_decay_sgd(
    steps_per_epoch,
    epochs,
    learning_rate,
    momentum=0.9,
    weight_decay=5e-4,
    decay_at=(0.5, 0.75),
    factor=0.1,
):
    """SGD with momentum and weight decay, the learning rate cut by `factor` at each `decay_at`.

    The paper generation's protocol: the rate drops at those fractions of
    the training steps (`epochs` x `steps_per_epoch`). Keras's weight decay
    is decoupled (each step ``w -= learning_rate * weight_decay * w``, on
    every variable), not an L2 term in the loss.
    """
    total = epochs * steps_per_epoch
    boundaries = [int(fraction * total) for fraction in decay_at]
    values = [learning_rate * factor**k for k in range(len(boundaries) + 1)]
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    return keras.optimizers.SGD(schedule, momentum=momentum, weight_decay=weight_decay)
