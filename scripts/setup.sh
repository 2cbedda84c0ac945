#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: the Debian packages tinypipe drives, then a .venv.
# A second run finds everything in place and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ARGS=("$@")  # --qat and/or --onnx: optional extras

APT_PACKAGES=(gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib
              qemu-system-arm espeak-ng)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
STAMP=.venv/.installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "setup: creating .venv with the Python dependencies"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  # pip's and setuptools' chatter goes to a log that is shown only when the install fails
  { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e ".[dev]"; } > .venv/pip.log 2>&1 \
    || { cat .venv/pip.log; exit 1; }
  touch "$STAMP"
fi

# The qat extra: checked from package metadata (importing tfmot would load TensorFlow, ~5 s).
QAT_CHECK='import importlib.metadata as m, importlib.util as u
assert m.version("tf-keras") == "2.21.0" and m.version("tensorflow-model-optimization") == "0.8.1"
assert all(u.find_spec(n) for n in ("tree", "mock", "absl"))'
wants() { local a; for a in "${ARGS[@]}"; do [ "$a" = "$1" ] && return 0; done; return 1; }
if wants --qat && ! .venv/bin/python -c "$QAT_CHECK" 2>/dev/null; then
  # With their dependencies these pull a second TensorFlow; the listed ones are all they need.
  echo "setup: installing the quantization-aware-training extra"
  .venv/bin/pip install -q --no-deps "tf-keras==2.21.0" "tensorflow-model-optimization==0.8.1"
  .venv/bin/pip install -q dm-tree mock "absl-py~=1.2"
  .venv/bin/python -c "import tensorflow, tf_keras, tensorflow_model_optimization" 2>/dev/null || {
    echo "setup: the qat extra does not import next to TensorFlow" >&2; exit 1; }
fi

# The onnx extra: onnx2tf (ONNX -> TensorFlow SavedModel) for `tinypipe quantize model.onnx`.
# onnx2tf 1.29 pins tensorflow 2.19, numpy 1.26 and protobuf 4 exactly (`pip install --dry-run onnx2tf`
# would replace the project's TensorFlow 2.21 and numpy 2), so it goes in with --no-deps, plus what it
# really imports: onnx, onnx-graphsurgeon, sng4onnx, psutil and tf-keras (pinned to the project's
# TensorFlow). It runs in a subprocess (it switches TensorFlow to legacy Keras), never in tinypipe's.
ONNX_CHECK='import importlib.metadata as m, importlib.util as u
assert m.version("onnx2tf") == "1.29.24" and m.version("tf-keras") == "2.21.0"
assert all(u.find_spec(n) for n in ("onnx", "onnx_graphsurgeon", "sng4onnx", "psutil"))'
if wants --onnx && ! .venv/bin/python -c "$ONNX_CHECK" 2>/dev/null; then
  echo "setup: installing the ONNX extra (onnx2tf)"
  .venv/bin/pip install -q "onnx==1.19.1" "onnx-graphsurgeon==0.5.8" "sng4onnx==2.0.1" psutil
  .venv/bin/pip install -q --no-deps "onnx2tf==1.29.24" "tf-keras==2.21.0"
  .venv/bin/python -c "import tensorflow, tf_keras, onnx, onnx_graphsurgeon, sng4onnx, psutil" 2>/dev/null || {
    echo "setup: the onnx extra does not import next to TensorFlow" >&2; exit 1; }
fi
