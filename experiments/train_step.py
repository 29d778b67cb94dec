"""Training speed of a standard Keras CNN with W-Softmax against cross-entropy.

Builds the examples' CNN twice from the same seed, compiles one with
`WSoftmax` and one with `SparseCategoricalCrossentropy(from_logits=True)` (the
backend's default compilation: jit on JAX, XLA on TensorFlow with a GPU and a
plain tf.function without one, eager on PyTorch),
and times `fit()` over the same fixed number of steps on the same in-memory
batches, alternating the two in ABBA order after a warm-up epoch each. Prints
the median steps per second and their ratio W-Softmax / cross-entropy.

    KERAS_BACKEND=jax python -m experiments.train_step
"""

import json
import statistics
import time
from pathlib import Path

import keras
import numpy as np

from experiments import cli
from experiments.models import cnn
from keras_wsoftmax import DEFAULT_ALPHA, WSoftmax

INPUT_SHAPE, NUM_CLASSES = (28, 28, 1), 10


def compiled_model(loss, seed):
    model = cnn(INPUT_SHAPE, NUM_CLASSES, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    return model


def main(argv=None):
    p = cli.argument_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50, help="training steps per timed fit()")
    p.add_argument("--batch-size", type=int, default=128, help="training batch size")
    p.add_argument("--repeats", type=int, default=5, help="ABBA rounds (2 timed fits each)")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="W-Softmax's alpha")
    p.add_argument("--json", help="also write the result to this file")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    n = args.steps * args.batch_size
    x = rng.random((n, *INPUT_SHAPE), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, n).astype(np.int32)
    # cnn() clears the Keras session, so both models are built before
    # either is trained, each keeping its own compiled step.
    losses = {
        "cross_entropy": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "wsoftmax": WSoftmax(args.alpha),
    }
    models = {name: compiled_model(loss, seed=0) for name, loss in losses.items()}

    def fit(model):
        return model.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)

    for model in models.values():
        fit(model)  # warm-up: tracing and compilation stay out of the timings
    seconds = {name: [] for name in models}
    for r in range(args.repeats):
        order = list(models) if r % 2 == 0 else list(models)[::-1]
        for name in order + order[::-1]:
            start = time.perf_counter()
            fit(models[name])
            seconds[name].append(time.perf_counter() - start)
    steps_per_second = {name: args.steps / statistics.median(s) for name, s in seconds.items()}
    ratio = steps_per_second["wsoftmax"] / steps_per_second["cross_entropy"]
    # The fastest fit of each: on a shared machine fit times can be bimodal,
    # and the median then says which mode each loss landed in more often.
    best_ratio = min(seconds["cross_entropy"]) / min(seconds["wsoftmax"])
    # What jit_compile="auto" resolved to: Keras turns XLA off for TensorFlow
    # on a CPU-only machine, and leaves PyTorch eager.
    jit = models["wsoftmax"].jit_compile
    mode = {
        "jax": "jit" if jit else "eager",
        "tensorflow": "XLA" if jit else "tf.function",
        "torch": "torch.compile" if jit else "eager",
    }[keras.backend.backend()]
    print(
        f"backend {keras.backend.backend()} ({mode}, jit_compile={jit}), "
        f"keras {keras.__version__}: {args.steps} steps of batch {args.batch_size}, "
        f"{2 * args.repeats} timed fits per loss"
    )
    print(
        "| backend | CE steps/s | W-Softmax steps/s | ratio W-Softmax / CE "
        "| ratio of the fastest fits |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {keras.backend.backend()} ({mode}) | {steps_per_second['cross_entropy']:.2f} "
        f"| {steps_per_second['wsoftmax']:.2f} | {ratio:.3f} | {best_ratio:.3f} |"
    )
    result = {
        "backend": keras.backend.backend(),
        "mode": mode,
        "args": vars(args),
        "seconds": seconds,
        "steps_per_second": steps_per_second,
        "ratio": ratio,
        "best_ratio": best_ratio,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
