"""Every aot operator, bit for bit against LiteRT, over random one-op models and random inputs.

For each op, `CONFIGS_PER_OP` random configurations (shapes, strides, paddings, activations,
extreme quantization...) are converted to int8 `.tflite` files (tests/op_models.py), all of
them are compiled into ONE sanitized host binary, and `INPUTS_PER_CONFIG` random inputs per
model must give exactly the bytes `tinypipe.reference.Reference` gives. Everything is seeded;
a failure prints the op, the config (enough to rebuild the model) and the first differing
input index and element. Scale up locally with TP_OP_CONFIGS=40 TP_OP_INPUTS=500.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

from tests.op_models import OPS, Config, build_models, describe, expected_opcodes, sample_configs
from tinypipe.aot.codegen import generate
from tinypipe.device.host import HostRunner
from tinypipe.errors import TinypipeError
from tinypipe.graph import parse
from tinypipe.reference import Reference

SEED = 2024
CONFIGS_PER_OP = int(os.environ.get("TP_OP_CONFIGS", "10"))
INPUTS_PER_CONFIG = int(os.environ.get("TP_OP_INPUTS", "60"))
SPARE_CONFIGS = 6
FLOAT_OVERSHOOT = 0.25  # float inputs (QUANTIZE) reach this far past the calibrated range, to saturate


@dataclass
class Case:
    config: Config
    model: bytes
    name: str  # C name of the generated model, or "" if generation failed
    error: str = ""


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[Case]], HostRunner | None]:
    work = tmp_path_factory.mktemp("ops")
    # spare configs per op stand in for the ones the TensorFlow converter fails on (see try_convert)
    configs = [c for op in OPS for c in sample_configs(op, CONFIGS_PER_OP + SPARE_CONFIGS, SEED)]
    cases: dict[str, list[Case]] = {op: [] for op in OPS}
    generated = []
    for i, (config, model) in enumerate(zip(configs, build_models(configs), strict=True)):
        if model is None or len(cases[config["op"]]) == CONFIGS_PER_OP:
            continue
        path = work / f"{config['id']}.tflite"
        path.write_bytes(model)
        case = Case(config, model, f"m{i}")
        try:
            generated.append(generate(path, work / "gen", name=case.name))
        except TinypipeError as exc:  # reported by the op's own test, not by every test
            case.name, case.error = "", str(exc)
        cases[config["op"]].append(case)
    return cases, HostRunner(generated, work / "host") if generated else None


def _inputs(reference: Reference, config: Config, n: int, seed: int) -> list[np.ndarray]:
    """n samples per input: the whole int8 range (both ends included), or floats around the range."""
    rng = np.random.default_rng(seed)
    out = []
    for detail, (lo, hi) in zip(reference.input_details, config["ranges"], strict=True):
        shape = (n, *detail["shape"])
        if detail["dtype"] == np.int8:
            x = rng.integers(-128, 128, size=shape, dtype=np.int8)
            x[0], x[-1] = -128, 127
        else:
            margin = FLOAT_OVERSHOOT * (hi - lo)
            x = rng.uniform(lo - margin, hi + margin, size=shape).astype(np.float32)
        out.append(x)
    return out


def _mismatch(config: Config, j: int, got: np.ndarray, want: np.ndarray) -> str:
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64)).reshape(len(got), -1)
    bad = np.nonzero(diff.max(axis=1) > 0)[0]
    k = int(bad[0])
    elem = int(np.argmax(diff[k] > 0))
    return (f"{config['op']} output {j}: {len(bad)}/{len(got)} inputs differ; first is input #{k}, "
            f"element {elem}: aot {got[k].reshape(-1)[elem]} vs LiteRT {want[k].reshape(-1)[elem]}, "
            f"max |diff| {diff.max():g}\nconfig: {describe(config)}")


def test_converted_models_hold_the_op(suite: tuple[dict[str, list[Case]], HostRunner | None]) -> None:
    """The builders really produce int8 one-op models (else the op tests would test nothing)."""
    for op, cases in suite[0].items():
        for case in cases:
            graph = parse(case.model)
            opcodes = [o.opcode for o in graph.operators]
            assert opcodes == expected_opcodes(op), f"{opcodes}: {describe(case.config)}"
            assert all(graph.tensor(i).dtype == "int8" for i in graph.inputs) or op == "QUANTIZE"


@pytest.mark.parametrize("op", OPS)
def test_op_bit_exact(op: str, suite: tuple[dict[str, list[Case]], HostRunner | None]) -> None:
    cases, runner = suite
    failures = [f"{describe(c.config)}\n  {c.error}" for c in cases[op] if c.error]
    assert not failures, f"{op}: aot generation failed for {len(failures)} configs:\n" + "\n".join(failures)
    assert runner is not None
    assert len(cases[op]) == CONFIGS_PER_OP, f"{op}: the converter failed on too many configs"
    checked = 0
    for k, case in enumerate(cases[op]):
        reference = Reference(case.model)
        x = _inputs(reference, case.config, INPUTS_PER_CONFIG, seed=SEED + k)
        want = reference.run_batch(x)
        got = runner.run(case.name, x)
        for j, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g.shape == w.shape, f"{op} output {j}: {g.shape} != {w.shape}; {describe(case.config)}"
            assert np.array_equal(g, w), _mismatch(case.config, j, g, w)
        checked += len(x[0])
    assert checked == CONFIGS_PER_OP * INPUTS_PER_CONFIG
