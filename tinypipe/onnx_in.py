"""ONNX in: an `.onnx` model -> a TensorFlow SavedModel (onnx2tf) -> tinypipe's own int8 quantizer.

onnx2tf (the optional `onnx` extra: `make onnx`) rewrites the ONNX graph op by op into
TensorFlow and turns the NCHW layout of image models into the NHWC one TFLite and the
microcontroller kernels use, so a (1, C, H, W) ONNX input becomes (1, H, W, C). Calibration and
test data given channels-first are transposed to match (`tinypipe.dataset`). onnx2tf switches
TensorFlow to legacy Keras and changes process-wide settings when imported, so it runs in a
child process; tinypipe only reads the SavedModel it writes. Its own int8 quantization is not
used: the SavedModel takes exactly the conversion a Keras model takes, which is what makes
`tinypipe quantize model.onnx` produce the same full-int8 model a Keras user gets.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tinypipe.errors import TinypipeError

CONVERT_TIMEOUT_S = 900.0
# Formats `tinypipe quantize` reads, for the message about any other one.
FORMATS = ".keras, .h5, a SavedModel directory or .onnx"
PYTORCH_SUFFIXES = (".pt", ".pth", ".pt2", ".ptl", ".torchscript")


def check_model_format(model: Path) -> None:
    """One line for models tinypipe cannot read: PyTorch files point at torch.onnx.export."""
    suffix = model.suffix.lower()
    if suffix in PYTORCH_SUFFIXES:
        raise TinypipeError(
            f"{model}: a PyTorch file; tinypipe reads PyTorch models as ONNX",
            "export it with torch.onnx.export(model, example_input, 'model.onnx'), then "
            "`make onnx` and `tinypipe quantize model.onnx --calib ... --out model.tflite`",
        )
    if model.is_dir():
        return
    if suffix not in (".keras", ".h5", ".onnx"):
        raise TinypipeError(f"{model}: not a model format tinypipe reads ({suffix or 'no suffix'})",
                            f"tinypipe quantize reads {FORMATS}")


def onnx2tf_version() -> str | None:
    if importlib.util.find_spec("onnx2tf") is None or importlib.util.find_spec("onnx") is None:
        return None
    try:
        return importlib.metadata.version("onnx2tf")
    except importlib.metadata.PackageNotFoundError:
        return None


def onnx_inputs(model: Path) -> list[dict[str, Any]]:
    """Name and shape (None for a symbolic dimension) of each graph input of an ONNX model."""
    import onnx

    try:
        m = onnx.load(str(model), load_external_data=False)
    except Exception as exc:
        raise TinypipeError(f"{model}: not a readable ONNX model ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:150]})", "check the file is an .onnx export") \
            from None
    initializers = {i.name for i in m.graph.initializer}
    out = []
    for i in m.graph.input:
        if i.name in initializers:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in i.type.tensor_type.shape.dim]
        out.append({"name": i.name, "shape": dims})
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def to_saved_model(model: Path, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """Convert `model` (.onnx) with onnx2tf in a child process; (SavedModel dir, conversion info)."""
    version = onnx2tf_version()
    if version is None:
        raise TinypipeError(f"{model}: reading ONNX needs the onnx extra (onnx2tf), which is not installed",
                            "run `make onnx` (or ./scripts/setup.sh --onnx)")
    if not model.is_file():
        raise TinypipeError(f"{model}: no such file", "check the path to the .onnx model")
    inputs = onnx_inputs(model)
    if len(inputs) != 1:
        raise TinypipeError(f"{model}: the ONNX graph takes {len(inputs)} inputs; tinypipe supports one")
    out = workdir / "onnx2tf"
    cmd = [sys.executable, "-m", "onnx2tf", "-i", str(model.resolve()), "-o", str(out.resolve()),
           "-osd", "-b", "1", "-nuo", "-n"]  # signature, batch 1, no onnxsim, quiet
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, env=env,
                              cwd=workdir)
    except subprocess.TimeoutExpired:
        raise TinypipeError(f"{model}: onnx2tf did not finish in {CONVERT_TIMEOUT_S:.0f} s",
                            "simplify the graph (onnxsim) or export with a fixed input shape") from None
    if proc.returncode != 0 or not (out / "saved_model.pb").is_file():
        text = _ANSI.sub("", proc.stdout + "\n" + proc.stderr)
        errors = [ln.strip() for ln in text.splitlines() if "ERROR" in ln or "Error" in ln]
        op = re.search(r"onnx_op_type:\s*(\S+)", text)
        name = re.search(r"onnx_op_name:\s*(\S+)", text)
        where = f" at {op.group(1)} '{name.group(1) if name else '?'}'" if op else ""
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        detail = (errors[-1] if errors else last)[:200]
        raise TinypipeError(f"{model}: onnx2tf {version} could not convert it{where}: {detail}",
                            "check the ONNX graph's ops (onnx2tf supports the standard opsets) and export "
                            "it with a fixed input shape")
    info = {"format": "onnx", "converter": f"onnx2tf {version}", "onnx_input": inputs[0]}
    return out, info
