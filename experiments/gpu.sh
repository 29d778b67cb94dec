#!/usr/bin/env bash
# The loss_speed tables, the float64 check and train_step's ratio on a GPU.
#
# Needs: a Linux machine with a CUDA GPU, Python with JAX (CUDA build) and
# PyTorch (CUDA build), and NumPy; TensorFlow is not used. Keras and this
# repository's package are taken from the checkout (run from its root). Where
# Keras is not installed, put its wheels in .whl/ first, on a machine with
# pip access (the versions are what the committed tables used):
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 -d .whl \
#     keras==3.15.1 namex optree
#
# and the script installs them into /tmp/site. Run it as
#
#   COMMIT=$(git rev-parse --short HEAD) OUT=runs/gpu bash experiments/gpu.sh
#
# SIZES, COMPILE_SIZES, CHECK_SIZE and TRAIN_STEPS shrink it for a smoke test
# (on a CPU the copy-bandwidth step fails and the rest runs).
# Prints each table as it goes and writes logs and JSON to $OUT (default
# runs/gpu): the loss_speed tables, then train_step's steps-per-second ratio.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu}
mkdir -p "$OUT"
if ! python3 -c 'import keras' 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1  # python -m runs from the repository root: no path to set
SIZES=${SIZES:-"256x10 1024x1000 8192x1000 1024x32000 4096x128000"}
COMPILE_SIZES=${COMPILE_SIZES:-"1024x1000 8192x1000 4096x128000"}
TRAIN_STEPS=${TRAIN_STEPS:-200}

{
  echo "date: $(date -u +%FT%TZ), commit: ${COMMIT:-unknown}"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv
  KERAS_BACKEND=jax python3 -c 'import sys, jax, torch, keras, numpy
print(sys.version.split()[0], "jax", jax.__version__, "torch", torch.__version__,
      "keras", keras.__version__, "numpy", numpy.__version__)'
} 2>&1 | tee "$OUT/environment.txt"

# The ceiling for a memory-bound loss: a device-to-device copy of 4 GiB,
# counting the bytes read and written, median of 20 after 3 warm-ups.
python3 - <<'EOF' 2>&1 | tee "$OUT/copy_bandwidth.txt"
import statistics, torch
src = torch.randn(2**30, device="cuda")
dst = torch.empty_like(src)
times = []
for i in range(23):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record(); dst.copy_(src); end.record(); torch.cuda.synchronize()
    if i >= 3:
        times.append(start.elapsed_time(end) / 1e3)
print(f"copy bandwidth: {2 * src.numel() * 4 / statistics.median(times) / 1e9:.0f} GB/s")
EOF

# Correctness on the GPU before speed: loss and gradient against the float64
# reference, on fresh N(0, 9) logits.
for backend in jax torch; do
  KERAS_BACKEND=$backend python3 -m experiments.correctness --size "${CHECK_SIZE:-4096x1000}" 2>&1 |
    tee -a "$OUT/correctness.txt"
done

KERAS_BACKEND=jax python3 -m experiments.loss_speed --sizes $SIZES --json "$OUT/jax.json" 2>&1 |
  tee -a "$OUT/tables.log"
KERAS_BACKEND=torch python3 -m experiments.loss_speed --sizes $SIZES --json "$OUT/torch.json" 2>&1 |
  tee -a "$OUT/tables.log"
KERAS_BACKEND=torch python3 -m experiments.loss_speed --sizes $COMPILE_SIZES \
  --torch-compile --json "$OUT/torch_compile.json" 2>&1 | tee -a "$OUT/tables.log"

for backend in jax torch; do
  KERAS_BACKEND=$backend python3 -m experiments.train_step --steps $TRAIN_STEPS --repeats 3 2>&1 |
    tee -a "$OUT/tables.log"
done
