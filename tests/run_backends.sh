#!/usr/bin/env bash
# Lints, then runs the test suite once per Keras backend, each in its own
# process: KERAS_BACKEND is read when keras is first imported. Each run
# spreads the test files over one pytest-xdist worker per core (a file's
# tests stay in one worker, so a module's fixture is made once). Fails if any
# step fails, and lists each backend's 15 slowest tests (CI time). Extra
# arguments go to pytest.
set -u
cd "$(dirname "$0")/.."
status=0
echo "=== ruff ==="
ruff check . && ruff format --check . || status=1
for backend in tensorflow jax torch; do
  echo "=== KERAS_BACKEND=$backend ==="
  KERAS_BACKEND=$backend python -m pytest -n auto --dist loadfile --durations=15 "$@" || status=1
done
exit "$status"
