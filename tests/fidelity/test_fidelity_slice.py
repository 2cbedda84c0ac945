"""A fixed-seed slice of `make fidelity` (issue 13): 20 random multi-operator models, converted
full int8, aot-compiled into one sanitized host binary and compared bit for bit with LiteRT, plus
the minimal models of what the campaign found (tests/fidelity/regressions.py). Every random model
must end exact, refused (one line), or converter-failed: no mismatch, no crash."""

from __future__ import annotations

import json

from tests.fidelity.regressions import REGRESSIONS
from tests.fidelity.run import BAD, format_table, run_campaign

SEED = 13
MODELS = 20


def test_fidelity_slice() -> None:
    summary = run_campaign(n_models=MODELS, seed=SEED, jobs=2, n_inputs=10,
                           specs=[spec for _, spec, _ in REGRESSIONS])
    results = summary["results"]
    assert len(results) == MODELS + len(REGRESSIONS)
    bad = [r for r in results if r["outcome"] in BAD]
    assert not bad, format_table(summary) + "\n" + json.dumps(bad, indent=1)
    for (what, _, outcome), r in zip(REGRESSIONS, results[MODELS:], strict=True):
        assert r["outcome"] == outcome, f"{what}: {r['outcome']} {r['detail']}"
    # the slice is not vacuous: most models run, over many operators
    assert summary["outcomes"]["exact"] >= MODELS // 2, summary["outcomes"]
    assert len(summary["per_op"]) >= 15, sorted(summary["per_op"])
