"""The newer aot operators and every shape-generic operator at tensor ranks 1-5, bit for bit
against LiteRT, over random converted int8 models and random inputs.

Same method as tests/test_ops.py (random configurations with extreme scales and zero points,
converted by the TensorFlow converter; every int8 input value, both ends included), but the
configs are converted in batches: each converter call builds one model whose independent branches
are one config each (tests/op_models.py build_batches), because a converter call costs seconds
whatever its size. The outputs are mapped back to their configs, so a failure still names its
config.

* MORE_OPS: CONFIGS_PER_OP random configs each, tensor ranks drawn from 1-5 (BATCH_MATMUL: two
  activations or a constant right-hand side, adj_x / adj_y, broadcast batch axes; EXPAND_DIMS over a
  batch of unknown size, which the converter keeps as EXPAND_DIMS); UNROLLED_LSTM / UNROLLED_GRU are
  Keras LSTM / GRU layers with unroll=True (their cells' builtins once per time step), fewer configs
  (RECURRENT_CONFIGS) since each is a whole graph.
* RANK_OPS (PAD, PADV2, RESHAPE, CONCATENATION, STRIDED_SLICE, SLICE, MEAN, SUM, REDUCE_MAX/MIN,
  TRANSPOSE, SPLIT, SPLIT_V, PACK, UNPACK, the element-wise binary ops...): one config per rank.

Scale up locally with TP_OP_CONFIGS=40 TP_OP_INPUTS=500 TP_OP_RECURRENT=6.
"""

from __future__ import annotations

import os

import pytest

from tests.op_models import MORE_OPS, RANK_OPS, RANKS, RECURRENT, rank_configs, sample_configs
from tests.op_suite import CONVERTER_FAILED, Result, refused, report, run_suite

SEED = 2024
CONFIGS_PER_OP = int(os.environ.get("TP_OP_CONFIGS", "10"))
INPUTS_PER_CONFIG = int(os.environ.get("TP_OP_INPUTS", "60"))
SPARE_CONFIGS = 2
# each recurrent config is a whole unrolled graph (tens of operators, seconds to convert): one of
# each by default, more with TP_OP_RECURRENT=6
RECURRENT_CONFIGS = int(os.environ.get("TP_OP_RECURRENT", "1"))
RECURRENT_SPARES = 1  # the converter leaves a float SPLIT in some (op_models.RECURRENT_CONVERSIONS)


def configs_of(op: str) -> int:
    return min(RECURRENT_CONFIGS, CONFIGS_PER_OP) if op in RECURRENT else CONFIGS_PER_OP


def sampled_of(op: str) -> int:
    return configs_of(op) + (RECURRENT_SPARES if op in RECURRENT else SPARE_CONFIGS)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    configs = [c for op in MORE_OPS for c in sample_configs(op, sampled_of(op), SEED)]
    configs += rank_configs(SEED)
    return run_suite(configs, tmp_path_factory.mktemp("ops_more"), INPUTS_PER_CONFIG, SEED)


@pytest.mark.parametrize("op", MORE_OPS)
def test_more_ops_bit_exact(op: str, results: dict[str, Result]) -> None:
    mine = [r for r in results.values() if r.config.get("op") == op and "rank" not in r.config
            and r.error != CONVERTER_FAILED and not refused(r)]
    failures = report(mine)
    assert not failures, f"{op}: not bit exact with LiteRT:\n{failures}"
    assert len(mine) >= configs_of(op), f"{op}: the converter failed on too many configs ({len(mine)} ok)"


@pytest.mark.parametrize("op", RANK_OPS)
def test_every_rank_bit_exact(op: str, results: dict[str, Result]) -> None:
    mine = {r.config["rank"]: r for r in results.values() if r.config.get("op") == op and "rank" in r.config}
    failures = report(list(mine.values()))
    assert not failures, f"{op}: not bit exact with LiteRT at some rank:\n{failures}"
    assert sorted(mine) == [r for r in RANKS if not (op in ("TRANSPOSE", "PACK") and r == 1)]
