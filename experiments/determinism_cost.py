"""What the studies' determinism costs: the examples' CNN trained with and without it.

The studies call `training.make_deterministic` (TensorFlow: op determinism;
PyTorch: deterministic algorithms; JAX: nothing to switch). A process cannot
switch it back reliably once its functions are traced, so each timing runs
in a process of its own, alternating on and off (ABBA), and reports the
median time of a fixed number of training steps after a warm-up epoch.

    KERAS_BACKEND=tensorflow python -m experiments.determinism_cost
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import keras
import numpy as np

from experiments import cli
from experiments.models import cnn
from experiments.training import make_deterministic
from keras_wsoftmax import WSoftmax

INPUT_SHAPE, NUM_CLASSES = (28, 28, 1), 10


def time_fit(deterministic, steps, batch_size):
    """Seconds of one epoch of `steps` training steps, after a warm-up epoch."""
    if deterministic:
        make_deterministic()
    rng = np.random.default_rng(0)
    x = rng.random((steps * batch_size, *INPUT_SHAPE), dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, steps * batch_size).astype(np.int32)
    model = cnn(INPUT_SHAPE, NUM_CLASSES, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=WSoftmax(0.2))
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
    return time.perf_counter() - start


def main(argv=None):
    p = cli.argument_parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100, help="training steps per timed fit()")
    p.add_argument("--batch-size", type=int, default=128, help="training batch size")
    p.add_argument("--repeats", type=int, default=2, help="ABBA rounds (4 processes each)")
    p.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(time_fit(args.child == "on", args.steps, args.batch_size)))
        return None
    seconds = {"on": [], "off": []}
    for r in range(args.repeats):
        order = ["on", "off"] if r % 2 == 0 else ["off", "on"]
        for mode in order + order[::-1]:
            child = [sys.executable, "-m", "experiments.determinism_cost", "--child", mode]
            child += ["--steps", str(args.steps), "--batch-size", str(args.batch_size)]
            out = subprocess.run(child, capture_output=True, text=True, check=True, timeout=1800)
            seconds[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    ratio = statistics.median(seconds["on"]) / statistics.median(seconds["off"])
    print(
        f"backend {keras.backend.backend()}: {args.steps} steps of batch {args.batch_size}, "
        f"median {statistics.median(seconds['off']):.2f} s without determinism, "
        f"{statistics.median(seconds['on']):.2f} s with it: ratio {ratio:.3f}"
    )
    return {"seconds": seconds, "ratio": ratio}


if __name__ == "__main__":
    main()
