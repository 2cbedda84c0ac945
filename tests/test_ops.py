"""Every aot operator, bit for bit against LiteRT, over random one-op models and random inputs.

For each op, random configurations (shapes, strides, paddings, activations, extreme
quantization...) are converted to int8 by the TensorFlow converter (tests/op_models.py), in
batches: one converter call builds one model whose independent branches are one config each
(a converter call costs seconds whatever its size). All batches are compiled into ONE sanitized
host binary, and `INPUTS_PER_CONFIG` random inputs per config must give exactly the bytes
`tinypipe.reference.Reference` gives (tests/op_suite.py). Everything is seeded; a failure prints
the op, the config (enough to rebuild the model) and the first differing input index and element.
Scale up locally with TP_OP_CONFIGS=40 TP_OP_INPUTS=500. The newer operators and tensor ranks
1-5 are in tests/test_ops_more.py, exact hand-built models in tests/test_ops_exact.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.op_models import OPS, Config, describe, sample_configs
from tests.op_suite import CONVERTER_FAILED, FLOAT_OVERSHOOT, Result, report, run_suite
from tinypipe.reference import Reference

SEED = 2024
CONFIGS_PER_OP = int(os.environ.get("TP_OP_CONFIGS", "10"))
INPUTS_PER_CONFIG = int(os.environ.get("TP_OP_INPUTS", "60"))
SPARE_CONFIGS = 6  # stand in for the configs the TensorFlow converter fails on or rewrites


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    configs = [c for op in OPS for c in sample_configs(op, CONFIGS_PER_OP + SPARE_CONFIGS, SEED)]
    return run_suite(configs, tmp_path_factory.mktemp("ops"), INPUTS_PER_CONFIG, SEED)


def _inputs(reference: Reference, config: Config, n: int, seed: int) -> list[np.ndarray]:
    """n samples per input of a one-op model: the whole int8 range (both ends included), or
    within config["input_spread"] of the zero point (sums small enough not to saturate), or
    floats around the calibrated range (used by tests/test_kernels_optimized.py)."""
    rng = np.random.default_rng(seed)
    out = []
    for detail, (lo, hi) in zip(reference.input_details, config["ranges"], strict=True):
        shape = (n, *detail["shape"])
        if detail["dtype"] == np.int8 and "input_spread" in config:
            spread, zero = config["input_spread"], int(detail["quantization"][1])
            x = np.clip(zero + rng.integers(-spread, spread + 1, size=shape), -128, 127).astype(np.int8)
        elif detail["dtype"] == np.int8:
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


def test_converted_models_hold_the_op(results: dict[str, Result]) -> None:
    """Enough configs of every op convert to exactly that op (op_models.split_branches rejects a
    branch the converter rewrote), else the op tests would test too little."""
    for op in OPS:
        converted = [r for r in results.values() if r.config["op"] == op and r.error != CONVERTER_FAILED]
        assert len(converted) >= CONFIGS_PER_OP, f"{op}: the converter failed on too many configs"


@pytest.mark.parametrize("op", OPS)
def test_op_bit_exact(op: str, results: dict[str, Result]) -> None:
    mine = [r for r in results.values() if r.config["op"] == op and r.error != CONVERTER_FAILED]
    failures = report(mine)
    assert not failures, f"{op}: not bit exact with LiteRT:\n{failures}"
    assert len(mine) >= CONFIGS_PER_OP
