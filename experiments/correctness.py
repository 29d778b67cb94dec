"""The loss and its gradient on this backend's device against the float64 reference.

A check to run before timing on a new device (`experiments/gpu.sh` runs it
first): relative error of the per-sample losses and of the gradient of the
mean loss on N(0, 9) logits, and what a label out of range gives.

    KERAS_BACKEND=jax python -m experiments.correctness --size 4096x1000
"""

import keras
import numpy as np

from experiments import cli
from experiments.loss_speed import device_name, gradient_function
from keras_wsoftmax import WSoftmax, reference


def relative_error(got, want):
    return float(np.linalg.norm(keras.ops.convert_to_numpy(got) - want) / np.linalg.norm(want))


def main(argv=None):
    p = cli.argument_parser(__doc__.splitlines()[0])
    p.add_argument("--size", default="4096x1000", help="NxC")
    p.add_argument("--alpha", type=float, default=0.2, help="W-Softmax's alpha")
    args = p.parse_args(argv)
    n, c = (int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(1)
    z = rng.normal(size=(n, c)).astype(np.float32) * 3
    y = rng.integers(0, c, n).astype(np.int32)
    zt, yt = keras.ops.convert_to_tensor(z), keras.ops.convert_to_tensor(y)
    per_sample = WSoftmax(args.alpha, reduction="none")
    loss_error = relative_error(per_sample(yt, zt), reference.wsoftmax(z, y, args.alpha))
    grad_error = relative_error(
        gradient_function(WSoftmax(args.alpha))(zt, yt),
        reference.wsoftmax_grad(z, y, args.alpha) / n,
    )
    print(
        f"{keras.backend.backend()} on {device_name()}: relative error of the loss "
        f"{loss_error:.1e}, of its gradient {grad_error:.1e} ({n} x {c}, float32, against float64)"
    )
    y[min(7, n - 1)] = c  # not a class id: NaN on a device, where eager PyTorch does not read back
    try:
        bad = keras.ops.convert_to_numpy(per_sample(keras.ops.convert_to_tensor(y), zt))
        index = min(7, n - 1)
        only = bool(np.isnan(bad[index]) and np.isfinite(np.delete(bad, index)).all())
        print(f"  bad label -> NaN at its sample only: {only}")
    except ValueError as error:
        print(f"  bad label -> ValueError: {str(error)[:60]}")
    return loss_error, grad_error


if __name__ == "__main__":
    main()
