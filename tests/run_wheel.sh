#!/usr/bin/env bash
# The release check: builds the sdist and the wheel, checks their metadata
# (twine check --strict) and contents, installs the wheel (not the clone) into
# a fresh virtual environment, and from a folder outside the clone runs the
# README's quick start, with its .keras save and load, on TensorFlow, JAX and
# PyTorch. Needs the test extra (build, twine) where it is run from.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=$(mktemp -d)
outside=$(mktemp -d)
venv=${WHEEL_VENV:-/tmp/keras-wsoftmax-wheel}
echo "=== wheel: build, twine check --strict, contents ==="
python -m build --outdir "$dist" . >"$outside/build.log" 2>&1 || { cat "$outside/build.log"; exit 1; }
twine check --strict "$dist"/*
python - "$dist" <<'PY'
import sys, tarfile, zipfile
from pathlib import Path

dist = Path(sys.argv[1])
(wheel,) = dist.glob("*.whl")
names = zipfile.ZipFile(wheel).namelist()
stray = [n for n in names if not n.startswith(("keras_wsoftmax/", "keras_wsoftmax-"))]
assert not stray, f"the wheel holds more than the package: {stray}"
assert "keras_wsoftmax/py.typed" in names, "the wheel lacks py.typed"
(sdist,) = dist.glob("*.tar.gz")
members = [m.split("/", 1)[1] for m in tarfile.open(sdist).getnames() if "/" in m]
stray = [m for m in members if m.split("/")[0] in ("tests", "experiments", "examples", "reports")]
assert not stray, f"the sdist holds what needs the clone: {stray}"
print(f"{wheel.name}: {len(names)} files, all keras_wsoftmax; {sdist.name}: no tests")
PY
echo "=== wheel: a fresh virtual environment, outside the clone ==="
rm -rf "$venv"
python -m venv "$venv"
wheel=$(ls "$dist"/*.whl)
# The CPU build of PyTorch, pinned as in the test extra (the torch extra takes
# what PyPI serves, a multi-GB CUDA build on Linux).
"$venv/bin/pip" install -q --disable-pip-version-check "$wheel[tensorflow,jax]" "torch==2.13.0" \
  2> >(grep -v "^WARNING: Location" >&2)
python -m tests.helpers.readme >"$outside/quick_start.py"
cd "$outside"
for backend in tensorflow jax torch; do
  # Its training progress goes to a log; the checks: the shape it prints, the file it saved.
  KERAS_BACKEND=$backend "$venv/bin/python" -c '
import runpy, sys, keras_wsoftmax
assert keras_wsoftmax.__file__.startswith(sys.prefix), keras_wsoftmax.__file__
runpy.run_path("quick_start.py", run_name="__main__")
print("keras_wsoftmax", keras_wsoftmax.__version__, "from", keras_wsoftmax.__file__)
' >"$backend.log" 2>&1 || { cat "$backend.log"; exit 1; }
  grep -qx "(2, 10)" "$backend.log" || { cat "$backend.log"; exit 1; }
  test -s model.keras || { echo "the quick start saved no model.keras"; exit 1; }
  rm model.keras
  echo "KERAS_BACKEND=$backend: the README's quick start ran in $outside; $(tail -n 1 "$backend.log")"
done
echo "wheel: passed"
