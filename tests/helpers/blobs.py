"""A small offline classification task: Gaussian blobs, one per class."""

import keras
import numpy as np

from keras_wsoftmax import WSoftmaxHead

NUM_CLASSES = 5
NUM_FEATURES = 10


def blobs(num_samples, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1234).normal(size=(NUM_CLASSES, NUM_FEATURES)) * 2.0
    labels = rng.integers(0, NUM_CLASSES, num_samples)
    features = centers[labels] + spread * rng.normal(size=(num_samples, NUM_FEATURES))
    return features.astype(np.float32), labels.astype(np.int32)


def blob_model(hidden=16, **head_kwargs):
    """The tests' model for the blobs: a ReLU layer of `hidden` units and the head, seeded."""
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((NUM_FEATURES,)),
            keras.layers.Dense(hidden, activation="relu"),
            WSoftmaxHead(NUM_CLASSES, **head_kwargs),
        ]
    )
