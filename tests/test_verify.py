"""The model verifier, crash isolation, safe C generation and the CLI's input/output checks (issue 12)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import MLPERF_MODELS, mlperf_model
from tests.fuzz import mutate
from tinypipe import graph
from tinypipe.errors import TinypipeError
from tinypipe.verify import run_isolated


def tinypipe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinypipe.cli", *args], capture_output=True, text=True,
                          timeout=300)


def mutant(name: str, change: Callable[[Any], None]) -> bytes:
    """The MLPerf model `name` with one change made through the schema's object API."""
    m = mutate.unpack(mlperf_model(name).read_bytes())
    change(m)
    return mutate.pack(m)


def refused(data: bytes, *fragments: str) -> str:
    with pytest.raises(TinypipeError) as info:
        graph.parse(data, "m.tflite")
    message = info.value.what
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def sg(m: Any) -> Any:
    return m.subgraphs[0]


def op_named(m: Any, opcode: str) -> Any:
    value = getattr(mutate.schema.BuiltinOperator, opcode)
    code = next(i for i, c in enumerate(m.operatorCodes)
                if max(c.builtinCode, c.deprecatedBuiltinCode) == value)
    return next(op for op in sg(m).operators if op.opcodeIndex == code)


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_models_pass(name: str) -> None:
    g = graph.load(mlperf_model(name))
    assert g.operators and g.inputs and g.outputs


def test_fully_connected_output_inflated_against_its_weights() -> None:
    def inflate(m: Any) -> None:
        sg(m).tensors[op_named(m, "FULLY_CONNECTED").outputs[0]].shape = [1, 65536]

    refused(mutant("kws_ref_model", inflate), "FULLY_CONNECTED", "65536 features", "12 rows")


def test_operators_out_of_topological_order() -> None:
    def swap(m: Any) -> None:
        ops = sg(m).operators
        ops[0], ops[1] = ops[1], ops[0]

    refused(mutant("kws_ref_model", swap), "topological order")


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("zeroPoint", [-1000], "zero point -1000, outside the int8 range"),
    ("scale", [math.nan], "scale nan"),
    ("scale", [0.0], "scale 0.0"),
    ("scale", [math.inf], "scale inf"),
])
def test_quantization_of_an_activation(field: str, value: list[float], fragment: str) -> None:
    def change(m: Any) -> None:
        setattr(sg(m).tensors[sg(m).inputs[0]].quantization, field, value)

    refused(mutant("ad01_int8", change), fragment)


def test_per_channel_scale_count() -> None:
    def drop(m: Any) -> None:
        q = sg(m).tensors[op_named(m, "CONV_2D").inputs[1]].quantization
        q.scale, q.zeroPoint = list(q.scale)[:-1], list(q.zeroPoint)[:-1]

    refused(mutant("kws_ref_model", drop), "per-channel scales for")


@pytest.mark.parametrize(("attr", "value", "fragment"), [
    ("strideH", 0, "stride_h = 0"),
    ("dilationWFactor", 0, "dilation_w_factor = 0"),
    ("fusedActivationFunction", 5, "fused activation"),
    ("padding", 7, "padding 7"),
])
def test_conv_options_in_range(attr: str, value: int, fragment: str) -> None:
    def change(m: Any) -> None:
        setattr(op_named(m, "CONV_2D").builtinOptions, attr, value)

    refused(mutant("kws_ref_model", change), "CONV_2D", fragment)


def test_missing_or_foreign_builtin_options() -> None:
    def remove(m: Any) -> None:
        op = op_named(m, "SOFTMAX")
        op.builtinOptions, op.builtinOptionsType = None, 0

    refused(mutant("kws_ref_model", remove), "SOFTMAX has no builtin options")

    def foreign(m: Any) -> None:
        op = op_named(m, "CONV_2D")
        op.builtinOptionsType, op.builtinOptions = mutate.schema.BuiltinOptions.Pool2DOptions, \
            mutate.schema.Pool2DOptionsT()

    refused(mutant("kws_ref_model", foreign), "carries Pool2DOptions")


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda m: setattr(sg(m).operators[0], "opcodeIndex", 99), "opcode index 99 is out of range"),
    (lambda m: setattr(sg(m).operators[0], "inputs", [77, *sg(m).operators[0].inputs[1:]]), "index 77"),
    (lambda m: setattr(sg(m).operators[0], "inputs", [-1, *sg(m).operators[0].inputs[1:]]), "omitted (-1)"),
    (lambda m: setattr(sg(m).tensors[1], "buffer", 10_000), "buffer index 10000"),
    (lambda m: setattr(sg(m), "inputs", []), "no inputs"),
    (lambda m: setattr(sg(m).tensors[1], "type", 8), "complex64"),
    (lambda m: setattr(sg(m).tensors[sg(m).inputs[0]], "shape", [1, -5]), "size -5"),
])
def test_structure(change: Callable[[Any], None], fragment: str) -> None:
    refused(mutant("ad01_int8", change), fragment)


def test_bias_length() -> None:
    def shorten(m: Any) -> None:
        t = sg(m).tensors[op_named(m, "FULLY_CONNECTED").inputs[2]]
        t.shape = [int(t.shape[0]) - 1]
        buf = m.buffers[t.buffer]
        buf.data = np.asarray(buf.data)[:-4]

    refused(mutant("ad01_int8", shorten), "bias", "values expected")


def test_hostile_names_are_printed_verbatim(tmp_path: Path) -> None:
    def rename(m: Any) -> None:
        sg(m).tensors[sg(m).outputs[0]].name = b"[/x] [bold red]boom\xff\xfe"

    path = tmp_path / "names.tflite"
    path.write_bytes(mutant("ad01_int8", rename))
    result = tinypipe("inspect", str(path))
    assert result.returncode == 0, result.stderr
    assert "[/x] [bold red]boom" in result.stdout


def _segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def _sleep() -> None:
    time.sleep(60)


def test_run_isolated() -> None:
    assert run_isolated(math.factorial, 5, what="probe") == 120
    with pytest.raises(TinypipeError, match=r"probe: the interpreter crashed \(SIGSEGV\)"):
        run_isolated(_segfault, what="probe")
    with pytest.raises(TinypipeError, match="no answer after 0.5 s"):
        run_isolated(_sleep, what="probe", timeout_s=0.5)
    with pytest.raises(TinypipeError, match="ValueError"):
        run_isolated(int, "x", what="probe")


def test_tflm_arena_bytes_in_a_child() -> None:
    from tinypipe.inspect import tflm_arena_bytes

    assert tflm_arena_bytes(mlperf_model("ad01_int8")) > 1000


# --- generated C ---------------------------------------------------------------------------------


def test_c_literals_are_finite_and_fit() -> None:
    from tinypipe.aot.codegen import UnsafeCode, c_literal

    assert c_literal(0.5) == "0.5f"
    for bad in (math.nan, math.inf, 1e39):
        with pytest.raises(UnsafeCode):
            c_literal(bad)
    with pytest.raises(UnsafeCode):
        c_literal(2**31)
    with pytest.raises(UnsafeCode):
        c_literal(-1, "uint32_t")


def test_buffers_checked_against_the_plan() -> None:
    from tinypipe.aot.codegen import UnsafeCode, check_buffers, lower_graph
    from tinypipe.aot.planner import plan_buffers

    g = graph.load(mlperf_model("kws_ref_model"))
    layers = lower_graph(g)
    plan = plan_buffers(g, layers)
    check_buffers(g, layers, plan)
    softmax = next(la for la in layers if la.opcode == "SOFTMAX")
    softmax.params["depth"] = 65536  # what an unchecked inflated FULLY_CONNECTED output led to
    with pytest.raises(UnsafeCode, match="SOFTMAX: its kernel reads bytes 0..65536"):
        check_buffers(g, layers, plan)


@pytest.mark.parametrize("name", ["int", "main", "_Bool", "__x", "9lives", "a-b"])
def test_export_c_names(name: str, tmp_path: Path) -> None:
    result = tinypipe("export-c", str(mlperf_model("ad01_int8")), "--out", str(tmp_path), "--name", name)
    assert result.returncode == 2 and result.stderr.startswith("error: --name")
    assert not list(tmp_path.iterdir())


# --- CLI paths and inputs ------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "fragment"), [
    (["validate", "{model}", "--json", "{tmp}"], "is a directory"),
    (["validate", "{model}", "--json", "/dev/full"], "is not a regular file"),
    (["validate", "{model}", "--json", "{tmp}/file.txt/x.json"], "is not a directory"),
    (["export-c", "{model}", "--out", "{tmp}/file.txt"], "exists and is not a directory"),
    (["export", "{model}", "--board", "qemu-m4", "--out", "{tmp}/file.txt"], "exists and is not a directory"),
])
def test_output_paths_refused_before_work(args: list[str], fragment: str, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    model = str(mlperf_model("ad01_int8"))
    result = tinypipe(*[a.format(model=model, tmp=tmp_path) for a in args])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and fragment in lines[0] and len(lines) <= 2, result.stderr


DETAILS = [{"name": "x", "shape": np.array([1, 4]), "dtype": np.int8, "quantization": (0.5, 3)}]


@pytest.mark.parametrize(("array", "fragment"), [
    (np.array([[1.0, math.nan, 0, 0]]), "NaN or infinite"),
    (np.array([[1 + 2j, 0, 0, 0]]), "complex"),
    (np.array([[1000, 0, 0, 0]]), "outside int8's -128..127"),
    (np.array([[True, False, True, False]]), "bool"),
    (np.zeros((0, 4), np.int8), "empty"),
])
def test_load_inputs_refuses(array: np.ndarray, fragment: str, tmp_path: Path) -> None:
    from tinypipe.validate import load_inputs

    np.savez(tmp_path / "in.npz", x=array)
    with pytest.raises(TinypipeError, match=fragment):
        load_inputs(tmp_path / "in.npz", DETAILS)


def test_load_inputs_quantizes_floats(tmp_path: Path) -> None:
    from tinypipe.validate import load_inputs

    np.savez(tmp_path / "in.npz", x=np.array([[0.0, 1.0, -100.0, 100.0]]))
    (x,) = load_inputs(tmp_path / "in.npz", DETAILS)
    assert x.dtype == np.int8 and x.reshape(-1).tolist() == [3, 5, -128, 127]
