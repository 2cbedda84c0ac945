"""Where the TensorFlow Lite Micro sources come from.

A TFLM tree is laid out as TFLite Micro's `create_tflm_tree.py` lays it out, with the reference
kernels and `kernels/cmsis_nn/` side by side and the third-party code it pins under
`third_party/`. tinypipe looks for one, in order: `--tflm-dir`, the TINYPIPE_TFLM_DIR environment
variable, then the user cache (`$XDG_CACHE_HOME/tinypipe/tflm-<commit>`). Nothing is downloaded:
where no tree exists, the error names the one command that makes one on a machine with internet
access (make_tree_command; it cannot be exercised on the offline machines tinypipe is tested on).
"""

from __future__ import annotations

import os
from pathlib import Path

from tinypipe.errors import TinypipeError

TFLM_COMMIT = "90b983c2b3f1480642e040bbd2ddb37b998f3424"  # tflite-micro main, 2026-08-20
CMSIS_NN_COMMIT = "4ab83cc3cc98fb85ed6dafb55e8ca02f1628dcae"  # the CMSIS-NN that commit pins
ENV_VAR = "TINYPIPE_TFLM_DIR"
# What a usable tree must hold (relative paths).
REQUIRED = ("tensorflow/lite/micro/micro_interpreter.h", "tensorflow/lite/micro/micro_mutable_op_resolver.h",
            "tensorflow/lite/micro/kernels", "third_party/flatbuffers/include", "third_party/gemmlowp")


def user_cache() -> Path:
    """tinypipe's folder in the user cache: $XDG_CACHE_HOME/tinypipe, else ~/.cache/tinypipe."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tinypipe"


def cache_dir() -> Path:
    """The user-cache location of the pinned tree."""
    return user_cache() / f"tflm-{TFLM_COMMIT[:7]}"


def make_tree_command(dest: Path) -> str:
    """The one command that makes a tree at `dest` on a machine with internet access."""
    return (f"git clone https://github.com/tensorflow/tflite-micro /tmp/tflm && "
            f"git -C /tmp/tflm checkout {TFLM_COMMIT[:7]} && "
            f"python3 /tmp/tflm/tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py "
            f"--makefile_options='TARGET=cortex_m_generic OPTIMIZED_KERNEL_DIR=cmsis_nn' {dest}")


def check_tree(path: Path, origin: str) -> Path:
    """`path` resolved, if it holds a TFLM tree; a TinypipeError naming `origin` otherwise."""
    path = Path(path).expanduser()
    missing = [rel for rel in REQUIRED if not (path / rel).exists()]
    if missing:
        raise TinypipeError(f"{path} (from {origin}) is not a TensorFlow Lite Micro tree: no {missing[0]}",
                            "point it at a tree made by create_tflm_tree.py: " + make_tree_command(path))
    if not (path / "third_party" / "cmsis_nn" / "Include").is_dir():
        raise TinypipeError(f"{path} (from {origin}) has no third_party/cmsis_nn",
                            "make the tree with OPTIMIZED_KERNEL_DIR=cmsis_nn: " + make_tree_command(path))
    return path.resolve()


def find_tree(tflm_dir: str | Path | None = None) -> Path:
    """The TFLM tree to build from: `tflm_dir`, then $TINYPIPE_TFLM_DIR, then the user cache."""
    if tflm_dir:
        return check_tree(Path(tflm_dir), "--tflm-dir")
    if os.environ.get(ENV_VAR):
        return check_tree(Path(os.environ[ENV_VAR]), ENV_VAR)
    cached = cache_dir()
    if cached.is_dir():
        return check_tree(cached, "the user cache")
    raise TinypipeError(
        f"no TensorFlow Lite Micro source tree: none given with --tflm-dir or {ENV_VAR}, none in {cached}",
        f"make one (needs internet, about a minute): {make_tree_command(cached)}")
