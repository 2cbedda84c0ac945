#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: the Debian packages tinypipe drives, then a .venv.
# A second run finds everything in place and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

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
if [ "${1:-}" = "--qat" ] && ! .venv/bin/python -c "$QAT_CHECK" 2>/dev/null; then
  # With their dependencies these pull a second TensorFlow; the listed ones are all they need.
  echo "setup: installing the quantization-aware-training extra"
  .venv/bin/pip install -q --no-deps "tf-keras==2.21.0" "tensorflow-model-optimization==0.8.1"
  .venv/bin/pip install -q dm-tree mock "absl-py~=1.2"
  .venv/bin/python -c "import tensorflow, tf_keras, tensorflow_model_optimization" 2>/dev/null || {
    echo "setup: the qat extra does not import next to TensorFlow" >&2; exit 1; }
fi
