"""A fixed-seed slice of `make fuzz`: 100 `inspect` mutants and 6 `validate --board host` mutants
(ASan/UBSan) of the MLPerf Tiny models must all end in ok or a one-line refusal."""

from __future__ import annotations

import json

import pytest

from tests.fuzz.run import MODELS_DIR, format_table, run_campaign


def test_fuzz_slice() -> None:
    if not MODELS_DIR.is_dir():
        pytest.skip(f"MLPerf Tiny models not found in {MODELS_DIR}")
    summary = run_campaign(n_inspect=100, n_validate=6, n_build=0, seed=1, jobs=2)
    assert summary["mutants"] == 106
    assert summary["bad"] == 0, format_table(summary) + "\n" + json.dumps(summary["bad_examples"], indent=1)
    # the slice exercises every mutation kind, and most structured mutants are refused
    assert set(summary["counts"]["inspect"]) >= {"truncate", "bitflip", "overwrite32", "structured"}
    assert summary["counts"]["inspect"]["structured"].get("refused", 0) > 10
