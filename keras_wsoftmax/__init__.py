"""W-Softmax (weights-biased softmax) loss and a sized classifier head for Keras 3."""

from keras_wsoftmax.head import WSoftmaxHead
from keras_wsoftmax.loss import DEFAULT_ALPHA, WSoftmax, wsoftmax
from keras_wsoftmax.scheduler import AlphaScheduler
from keras_wsoftmax.sizing import min_units

__version__ = "0.1.0"

__all__ = ["AlphaScheduler", "DEFAULT_ALPHA", "WSoftmax", "WSoftmaxHead", "min_units", "wsoftmax"]
