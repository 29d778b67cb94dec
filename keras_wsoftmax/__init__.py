"""W-Softmax (weights-biased softmax) loss and a sized classifier head for Keras 3."""

from keras_wsoftmax.geometry import FeatureGeometry
from keras_wsoftmax.head import DEFAULT_SCALE, WSoftmaxHead
from keras_wsoftmax.loss import DEFAULT_ALPHA, WSoftmax, wsoftmax
from keras_wsoftmax.scheduler import AlphaScheduler
from keras_wsoftmax.sizing import min_units, recommended_units

__version__ = "0.2.0.dev0"

__all__ = [
    "AlphaScheduler",
    "DEFAULT_ALPHA",
    "DEFAULT_SCALE",
    "FeatureGeometry",
    "WSoftmax",
    "WSoftmaxHead",
    "min_units",
    "recommended_units",
    "wsoftmax",
]
