"""Margin softmax losses for Keras 3: W-Softmax (weights-biased softmax), CosFace and ArcFace,
with a sized (cosine) classifier head."""

from keras_wsoftmax.arcface import DEFAULT_ARCFACE_MARGIN, ArcFace, arcface
from keras_wsoftmax.cosface import DEFAULT_COSFACE_MARGIN, CosFace, cosface
from keras_wsoftmax.geometry import FeatureGeometry
from keras_wsoftmax.head import WSoftmaxHead
from keras_wsoftmax.loss import DEFAULT_ALPHA, WSoftmax, wsoftmax
from keras_wsoftmax.scheduler import AlphaScheduler
from keras_wsoftmax.sizing import DEFAULT_SCALE, min_units, recommended_scale, recommended_units

__version__ = "0.3.0"

__all__ = [
    "AlphaScheduler",
    "ArcFace",
    "CosFace",
    "DEFAULT_ALPHA",
    "DEFAULT_ARCFACE_MARGIN",
    "DEFAULT_COSFACE_MARGIN",
    "DEFAULT_SCALE",
    "FeatureGeometry",
    "WSoftmax",
    "WSoftmaxHead",
    "arcface",
    "cosface",
    "min_units",
    "recommended_scale",
    "recommended_units",
    "wsoftmax",
]
