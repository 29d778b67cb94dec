#!/usr/bin/env bash
# Lints, then runs the test suite once per Keras backend, each in its own
# process: KERAS_BACKEND is read when keras is first imported. Fails if any
# step fails, and lists each backend's 15 slowest tests (CI time). Extra
# arguments go to pytest.
set -u
cd "$(dirname "$0")/.."
status=0
echo "=== ruff ==="
ruff check . && ruff format --check . || status=1
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend ==="
  KERAS_BACKEND=$backend python -m pytest --durations=15 "$@" || status=1
done
exit "$status"
