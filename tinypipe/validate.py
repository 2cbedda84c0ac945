"""Validate a compiled model against the reference interpreter, sample by sample, bit for bit.

The "device" is pluggable: a factory `(model_path, work_dir, optimize) -> run(inputs) -> outputs`.
`host` compiles the aot C with ASan/UBSan and runs it here; any board from boards/ gets the
firmware path (export, PlatformIO build, QEMU or flash, the serial validation protocol) from
`tinypipe.device.target.board_device`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinypipe import graph as graph_mod
from tinypipe.aot.codegen import DEFAULT_OPTIMIZE, arena_allowance
from tinypipe.errors import TinypipeError

Run = Callable[[list[np.ndarray]], list[np.ndarray]]  # inputs stacked on axis 0 -> outputs likewise
DeviceFactory = Callable[[Path, Path, str], Run]  # (model, work directory, --optimize goal)
DEVICES: dict[str, DeviceFactory] = {}


def register_device(board: str, factory: DeviceFactory) -> None:
    DEVICES[board] = factory


def host_device(model_path: Path, work_dir: Path, optimize: str) -> Run:
    """The aot C model compiled for this machine with sanitizers; one process per batch."""
    from tinypipe.aot.codegen import generate
    from tinypipe.device.host import HostRunner

    model = generate(model_path, work_dir / "gen", name="model", optimize=optimize)
    runner = HostRunner([model], work_dir / "host")
    return lambda inputs: runner.run("model", inputs)


register_device("host", host_device)


@dataclass
class OutputStats:
    name: str
    bit_exact: int  # samples whose output is byte-identical to the reference
    max_abs_diff: float
    mismatched_values: int


@dataclass
class ValidationResult:
    model: str
    board: str
    samples: int
    bit_exact: int  # samples where every output matches
    max_abs_diff: float
    outputs: list[OutputStats] = field(default_factory=list)
    runtime: str = "aot"
    reference: str = ""  # the interpreter the outputs were compared with
    accuracy: dict | None = None  # with --test: tinypipe.metrics.model_accuracy (float, host, device)
    stateful: bool = False  # resource variables: the samples are one sequence, compared step by step
    optimize: str = ""  # aot: the goal its kernel variants were chosen for (--optimize)

    @property
    def ok(self) -> bool:
        return self.bit_exact == self.samples

    def summary(self) -> str:
        verdict = "bit-exact" if self.ok else "MISMATCH"
        what = "steps of one stateful sequence" if self.stateful else "samples"
        return (f"{Path(self.model).name} ({self.runtime}) on {self.board}: {self.bit_exact}/{self.samples} "
                f"{what} bit-exact with {self.reference}, max |diff| {self.max_abs_diff:g} -> {verdict}")

    def to_json(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def load_inputs(path: Path, details: list[dict]) -> list[np.ndarray]:
    """Arrays from an .npz: one per model input (by input name, else in order), batched on axis 0.
    Float arrays for integer inputs are quantized with the input's scale and zero point (values
    beyond the type's range saturate, as quantization does); integer arrays must already fit the
    input's type. NaN, infinite, complex, boolean, object or empty arrays are refused."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise TinypipeError(f"{path}: cannot read inputs ({' '.join(str(exc).split())[:200]})",
                            "pass an .npz written by numpy.savez") from None
    except Exception as exc:  # zipfile.BadZipFile and friends: not an .npz
        raise TinypipeError(f"{path}: cannot read inputs ({type(exc).__name__})",
                            "pass an .npz written by numpy.savez") from None
    if len(arrays) < len(details):
        raise TinypipeError(f"{path}: has {len(arrays)} arrays, the model takes {len(details)} inputs",
                            "save one array per model input")
    names = [d["name"] for d in details]
    by_name = all(n in arrays for n in names)
    keys = names if by_name else list(arrays)[:len(details)]
    out = []
    for key, d in zip(keys, details, strict=True):
        x = arrays[key]
        what = f"{path}: array '{key}'"
        if x.dtype.kind not in "iuf":
            raise TinypipeError(f"{what} is {x.dtype}; inputs must be real numbers (integer or float)",
                                "save int8 values, or float values to be quantized")
        if x.size == 0:
            raise TinypipeError(f"{what} is empty", "save at least one sample")
        if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
            raise TinypipeError(f"{what} holds NaN or infinite values", "save finite values")
        shape = tuple(int(s) for s in d["shape"])
        size = int(np.prod(shape))
        if x.size % size:
            raise TinypipeError(f"{path}: array of shape {x.shape} does not hold inputs of shape {shape}",
                                f"save an array of shape (N, {', '.join(map(str, shape[1:]))}) or {shape}")
        x = x.reshape(-1, *shape)
        dtype = np.dtype(d["dtype"])
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if x.dtype.kind == "f":
                scale, zero = d["quantization"]
                if not scale > 0:
                    raise TinypipeError(f"{what}: the model input '{d['name']}' has no quantization scale, "
                                        "so float values cannot be quantized", f"save {dtype} values")
                x = np.clip(np.round(x.astype(np.float64) / scale) + zero, info.min, info.max)
            elif x.min() < info.min or x.max() > info.max:
                raise TinypipeError(f"{what} holds values {x.min()}..{x.max()}, outside {dtype}'s "
                                    f"{info.min}..{info.max}",
                                    f"save {dtype} values, or floats to be quantized")
        elif x.dtype.kind == "f" and np.any(np.abs(x.astype(np.float64)) > np.finfo(dtype).max):
            raise TinypipeError(f"{what} holds values beyond {dtype}'s range", "save finite float32 values")
        out.append(x.astype(dtype))
    return out


def as_reference_type(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """A device's output bytes (any dtype, e.g. the protocol's flat int8) as the reference output's
    type and shape, when they hold as many bytes (uint8 outputs, ...); otherwise unchanged."""
    raw = np.ascontiguousarray(got)
    if raw.dtype == expected.dtype or raw.nbytes != expected.nbytes:
        return raw
    return raw.reshape(-1).view(np.uint8).view(expected.dtype).reshape(expected.shape)


def compare(got: list[np.ndarray], expected: list[np.ndarray], names: list[str]) -> list[OutputStats]:
    stats = []
    for g, e, name in zip(got, expected, names, strict=True):
        e = e.reshape(g.shape)
        diff = np.abs(g.astype(np.float64) - e.astype(np.float64)).reshape(len(g), -1)
        same = np.array([np.array_equal(a.view(np.uint8), b.view(np.uint8))
                         for a, b in zip(np.ascontiguousarray(g), np.ascontiguousarray(e), strict=True)])
        stats.append(OutputStats(name, int(same.sum()), float(diff.max()) if diff.size else 0.0,
                                 int((diff != 0).sum())))
    return stats


def reference_label(ref: Any) -> str:
    """What a reference interpreter is, for reports."""
    return str(getattr(ref, "label", "LiteRT's built-in kernels (no delegates)"))


def reference_for(model: str | Path, runtime: str) -> Any:
    """The interpreter whose outputs a runtime must reproduce bit for bit: LiteRT's built-in
    kernels for aot, TensorFlow Lite Micro's own interpreter for tflm."""
    if runtime == "tflm":
        from tinypipe.tflm.interpreter import TflmReference

        return TflmReference(model)
    from tinypipe.reference import Reference

    return Reference(model)


def validate(model: str | Path, board: str = "host", samples: int = 100, inputs: str | Path | None = None,
             json_out: str | Path | None = None, seed: int = 0,
             work_dir: str | Path | None = None, port: str | None = None, runtime: str = "aot",
             tflm_dir: str | Path | None = None, test: str | Path | None = None,
             preprocess: str | Path | None = None, float_model: str | Path | None = None,
             optimize: str = DEFAULT_OPTIMIZE) -> ValidationResult:
    """Run `samples` random inputs (uniform over the input range) or the given .npz through the
    compiled model on `board` and through the runtime's reference interpreter (reference_for);
    count bit-exact samples. A stateful model (resource variables: a streaming model) gets the
    samples as one sequence, in order, from its initial state on both sides, and every step's
    outputs are compared.

    With `test` (data `tinypipe.dataset` reads, `preprocess` hook) its samples are the inputs and
    the result's `accuracy` holds the float (`float_model`, default: beside the model), LiteRT
    int8 and on-board figures (`tinypipe.metrics`). `optimize`: the aot goal (ram, balanced, time)."""
    from tinypipe.reference import random_inputs

    model = Path(model)
    arena_allowance(optimize)  # a wrong goal fails before anything is built
    if board in DEVICES:
        if runtime != "aot":
            raise TinypipeError(f"--board {board} runs the aot runtime only, not {runtime}",
                                "validate tflm builds on a board: --board qemu-m4 --runtime tflm")
        factory = DEVICES[board]
    else:  # a board from boards/: export, build, run the firmware and talk to it over serial
        from tinypipe.boards import load_board
        from tinypipe.device.target import board_device

        factory = board_device(load_board(board).id, port, runtime, tflm_dir)
    if samples < 1:
        raise TinypipeError(f"--samples must be at least 1, got {samples}")
    if not model.is_file():
        raise TinypipeError(f"{model}: no such file", "check the path to the .tflite model")
    ref = reference_for(model, runtime)
    test_data = None
    if test is not None:  # accuracy hook: the test set is the input
        from tinypipe.dataset import load_for_model

        test_data = load_for_model(test, model, preprocess, float_model)
        xs = [test_data.model_input(ref.input_details[0])]
    elif inputs:
        xs = load_inputs(Path(inputs), ref.input_details)
    else:
        xs = random_inputs(ref.input_details, samples, seed)
    with tempfile.TemporaryDirectory(prefix="tinypipe-validate-") as tmp:
        run = factory(model, Path(work_dir or tmp), optimize)
        got = run(xs)
    expected = ref.run_batch(xs)  # a fresh interpreter: a stateful model starts from its initial state
    got = [as_reference_type(g, e) for g, e in zip(got, expected, strict=True)]
    outputs = compare(got, expected, [d["name"] for d in ref.output_details])
    n = len(xs[0])
    all_same = np.ones(n, bool)
    for g, e in zip(got, expected, strict=True):
        all_same &= np.array([np.array_equal(a, b.reshape(a.shape)) for a, b in zip(g, e, strict=True)])
    result = ValidationResult(str(model), board, n, int(all_same.sum()),
                              max((o.max_abs_diff for o in outputs), default=0.0), outputs, runtime,
                              reference_label(ref), stateful=graph_mod.load(model).stateful,
                              optimize=optimize if runtime == "aot" else "")
    if test_data is not None:
        from tinypipe.metrics import model_accuracy

        result.accuracy = model_accuracy(model, test_data, device_outputs=got, float_model=float_model,
                                         host_outputs=expected if runtime == "aot" else None,
                                         device_board=board)
    if json_out:
        Path(json_out).write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result
