"""The op suite's models (tests/op_models.py configs) converted with 16x8 quantization instead:
int16 activations (zero point 0), int8 weights, int64 biases, int16 model inputs and outputs
(`EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`), and the batched bit-exactness
run of tests/op_suite.py on them (LiteRT against the sanitized host runner).

Configs come from `tests.op_models.sample_configs`; only the converter settings differ, so a
failing config prints everything needed to rebuild its model exactly as the int8 suite does.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tests import op_models, op_suite
from tests.op_models import Batch, Config
from tests.op_suite import FLOAT_OVERSHOOT, Result
from tinypipe.reference import Reference

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


def convert_group(configs: list[Config]) -> bytes | None:
    """`op_models.convert_group` with 16x8 quantization (int16 I/O; float I/O for QUANTIZE)."""
    return op_models.convert_group(configs, activations="int16")


def _accepted(config: Config, opcodes: list[str]) -> bool:
    """The branch is exactly its op; a 16x8 CONCATENATION may have the converter's int16 -> int16
    QUANTIZE in front of inputs whose scale differs (tested as QUANTIZE int16 -> int16)."""
    if config["op"] == "CONCATENATION":
        return [o for o in opcodes if o != "QUANTIZE"] == ["CONCATENATION"]
    return sorted(opcodes) == sorted(op_models.expected_opcodes(config["op"]))


def build_batches(configs: list[Config], per_model: int = 30, workers: int = 2
                  ) -> tuple[list[Batch], list[Config]]:
    """`op_models.build_batches` with the 16x8 converter and acceptance rule."""
    return op_models.build_batches(configs, per_model, workers, activations="int16", accepted=_accepted)


def batch_inputs(reference: Reference, batch: Batch, n: int, seed: int,
                 every_value: bool = False) -> list[np.ndarray]:
    """n samples per model input: the whole int16 range (both ends included), or floats around the
    branch's calibrated range (QUANTIZE). `every_value`: the first sample of each int16 input holds
    -32768, -32767, ... in order (every int16 value once for an input of 65536 elements)."""
    rng = np.random.default_rng(seed)
    branch = {b.index: b.config for b in batch.branches}
    xs = []
    for detail in reference.input_details:
        j, k = (int(v) for v in re.search(r"b(\d+)_(\d+)", detail["name"]).groups())  # type: ignore[union-attr]
        shape = (n, *detail["shape"])
        if detail["dtype"] == np.int16:
            x = rng.integers(INT16_MIN, INT16_MAX + 1, size=shape, dtype=np.int16)
            x[0], x[-1] = INT16_MIN, INT16_MAX
            if every_value:
                size = int(np.prod(shape[1:]))
                x[0] = (np.arange(size) % 2**16 + INT16_MIN).astype(np.int16).reshape(shape[1:])
        else:
            lo, hi = branch[j]["ranges"][k]
            margin = FLOAT_OVERSHOOT * (hi - lo)
            x = rng.uniform(lo - margin, hi + margin, size=shape).astype(np.float32)
        xs.append(x)
    return xs


def run_suite(configs: list[Config], work: Path, n_inputs: int, seed: int,
              every_value: bool = False) -> dict[str, Result]:
    """`op_suite.run_suite` for 16x8 models: a Result per config id (`every_value`: see batch_inputs)."""
    def inputs(reference: Reference, batch: Batch, n: int, seed: int) -> list[np.ndarray]:
        return batch_inputs(reference, batch, n, seed, every_value=every_value)

    return op_suite.run_suite(configs, work, n_inputs, seed, build=build_batches, inputs=inputs)
