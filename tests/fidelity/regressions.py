"""Minimal models for what the fidelity campaign found, run by the slice test
(tests/fidelity/test_fidelity_slice.py) with the outcome each must keep."""

from __future__ import annotations

from tests.fidelity.generate import Spec


def _aux(shape: list[int], lo: float, hi: float) -> dict[str, object]:
    return {"shape": shape, "range": [lo, hi], "divisor": False}


# (what it found, spec, required outcome)
REGRESSIONS: list[tuple[str, Spec, str]] = [
    # HARD_SWISH with an output scale over 2^16 times coarser than the hi-res input scale (input
    # [0, 0.07], output [0, 68] through the concatenation): LiteRT's int16 RoundingDivideByPOT
    # then has an all-ones mask and returns 1 for every x >= 0, so every output is zp + 1 (-127);
    # the table gave zp (-128).
    ("hard_swish-int16-mask",
     {"seed": 1, "input": [1, 8], "range": [0.0, 0.07],
      "steps": [{"layer": "hard_swish"},
                {"layer": "concatenate", "axis": 1, "aux": [_aux([1, 2], 0.0, 68.0)], "position": 1}]},
     "exact"),
    # ADD whose output scale is ~1e5 times finer than an input's (relu(x + y), y in [-102, 0],
    # x in [-0.003, 0.001]): LiteRT's vectorized ADD wraps the sum to int16, its scalar tail
    # saturates it, so its output depends on the element's position: refused, not mismatched.
    ("add-int16-wrap",
     {"seed": 1, "input": [1, 10, 8], "range": [-0.00275, 0.00083],
      "steps": [{"layer": "add", "op": "add", "aux": [_aux([1, 1, 1], -102.5, 0.0)], "swap": False,
                 "activation": "relu"}]},
     "refused"),
]
