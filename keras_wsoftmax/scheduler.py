"""Changing the W-Softmax margin during training, as Keras changes learning rates."""

from collections.abc import Callable

import keras

from keras_wsoftmax.loss import WSoftmax, validate_alpha


class AlphaScheduler(keras.callbacks.Callback):
    """Sets the alpha of the model's `WSoftmax` loss at the start of each epoch.

    The alpha counterpart of `keras.callbacks.LearningRateScheduler`:
    ``schedule(epoch, alpha)`` takes the epoch index (from 0) and the current
    alpha, and returns the alpha for that epoch, ``0 <= alpha < 1``. Every
    `WSoftmax` among the compiled losses is set, and the value is logged as
    ``"alpha"`` at the end of each epoch.

    The change takes effect inside compiled train and test steps on every
    backend: compiled steps hold alpha as a constant, so each change of
    alpha has Keras trace and compile the steps again, once per change.

    A model saved during training keeps the alpha of that moment (it is part
    of the loss's config).

    Args:
        schedule: A function ``(epoch, alpha) -> alpha``.
        verbose: 0 is quiet, 1 prints a line whenever alpha changes.

    Example, a linear warm-up of the margin over the first 5 epochs:

    ```python
    warm_up = AlphaScheduler(lambda epoch, alpha: 0.2 * min(1.0, epoch / 5))
    model.compile(optimizer="adam", loss=WSoftmax(alpha=0.0))
    model.fit(x, y, epochs=20, callbacks=[warm_up])
    ```
    """

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def _losses(self):
        losses = [
            loss for loss in keras.tree.flatten(self.model.loss) if isinstance(loss, WSoftmax)
        ]
        if not losses:
            raise ValueError(
                "AlphaScheduler needs a model compiled with a WSoftmax loss; "
                f"the model's loss is {self.model.loss!r}."
            )
        return losses

    def on_epoch_begin(self, epoch, logs=None):
        losses = self._losses()
        current = losses[0].alpha
        try:
            alpha = validate_alpha(self.schedule(epoch, current))
        except ValueError as error:
            raise ValueError(f"AlphaScheduler's schedule at epoch {epoch}: {error}") from None
        if alpha == current and all(loss.alpha == alpha for loss in losses):
            return
        for loss in losses:
            loss.alpha = alpha
        # The compiled steps hold the old alpha as a constant: trace them again.
        self.model.make_train_function(force=True)
        self.model.make_test_function(force=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: AlphaScheduler setting alpha to {alpha:g}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["alpha"] = self._losses()[0].alpha
