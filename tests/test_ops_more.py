"""The newer aot operators and every shape-generic operator at tensor ranks 1-5, bit for bit
against LiteRT, over random converted int8 models and random inputs.

Same method as tests/test_ops.py (random configurations with extreme scales and zero points,
converted by the TensorFlow converter; every int8 input value, both ends included), but the
configs are converted in batches: each converter call builds one model whose independent branches
are one config each (tests/op_models.py build_batches), because a converter call costs seconds
whatever its size. The outputs are mapped back to their configs, so a failure still names its
config. Scale up locally with TP_OP_CONFIGS=40 TP_OP_INPUTS=500.

* MORE_OPS: CONFIGS_PER_OP random configs each, tensor ranks drawn from 1-5.
* RANK_OPS (PAD, PADV2, RESHAPE, CONCATENATION, STRIDED_SLICE, SLICE, MEAN, SUM, REDUCE_MAX/MIN,
  TRANSPOSE, SPLIT, SPLIT_V, PACK, UNPACK, the element-wise binary ops...): one config per rank.
"""

from __future__ import annotations

import os

import pytest

from tests.op_models import MORE_OPS, RANK_OPS, RANKS, rank_configs, sample_configs
from tests.op_suite import CONVERTER_FAILED, Result, refused, report, run_suite

SEED = 2024
CONFIGS_PER_OP = int(os.environ.get("TP_OP_CONFIGS", "10"))
INPUTS_PER_CONFIG = int(os.environ.get("TP_OP_INPUTS", "60"))
SPARE_CONFIGS = 2


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    configs = [c for op in MORE_OPS for c in sample_configs(op, CONFIGS_PER_OP + SPARE_CONFIGS, SEED)]
    configs += rank_configs(SEED)
    return run_suite(configs, tmp_path_factory.mktemp("ops_more"), INPUTS_PER_CONFIG, SEED)


@pytest.mark.parametrize("op", MORE_OPS)
def test_more_ops_bit_exact(op: str, results: dict[str, Result]) -> None:
    mine = [r for r in results.values() if r.config.get("op") == op and "rank" not in r.config
            and r.error != CONVERTER_FAILED and not refused(r)]
    failures = report(mine)
    assert not failures, f"{op}: not bit exact with LiteRT:\n{failures}"
    assert len(mine) >= CONFIGS_PER_OP, f"{op}: the converter failed on too many configs ({len(mine)} ok)"


@pytest.mark.parametrize("op", RANK_OPS)
def test_every_rank_bit_exact(op: str, results: dict[str, Result]) -> None:
    mine = {r.config["rank"]: r for r in results.values() if r.config.get("op") == op and "rank" in r.config}
    failures = report(list(mine.values()))
    assert not failures, f"{op}: not bit exact with LiteRT at some rank:\n{failures}"
    assert sorted(mine) == [r for r in RANKS if not (op in ("TRANSPOSE", "PACK") and r == 1)]
