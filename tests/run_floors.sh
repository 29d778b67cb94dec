#!/usr/bin/env bash
# The lowest versions pyproject.toml claims, in a virtual environment of their
# own: keras 3.8.0, jax 0.4.30 and numpy 1.24 (with the ml_dtypes and scipy
# that jax 0.4.30 takes on that numpy), and the package's own tests on JAX,
# the ones that need neither `experiments` nor another backend. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${FLOORS_VENV:-/tmp/keras-wsoftmax-floors}
echo "=== floors: keras 3.8.0, jax 0.4.30, numpy 1.24.4 (KERAS_BACKEND=jax) ==="
python -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
  "keras==3.8.0" "jax[cpu]==0.4.30" "numpy==1.24.4" "ml_dtypes==0.4.1" "scipy==1.11.4" \
  "pytest>=8" "hypothesis>=6.100"
# From the repository root, `python -m pytest` imports this checkout's package.
KERAS_BACKEND=jax "$venv/bin/python" -m pytest -p no:cacheprovider \
  tests/test_losses.py tests/test_loss_contract.py tests/test_loss.py tests/test_head.py \
  tests/test_sizing.py tests/test_scheduler.py tests/test_docstrings.py tests/test_training.py \
  "$@"
