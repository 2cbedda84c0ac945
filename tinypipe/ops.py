"""Which runtime runs which operator: every TensorFlow Lite Micro builtin, aot and tflm side by side.

    operator_table(tflm_dir=None) -> list[OpSupport]

The aot column comes from the aot lowering registry (tinypipe.aot.lowering.supported_ops), the
tflm column from the TFLite Micro tree tinypipe builds (the MicroMutableOpResolver methods that
have a kernel in it). Without a tree, the tflm column is unknown rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinypipe.errors import TinypipeError


@dataclass(frozen=True)
class OpSupport:
    op: str
    aot: bool
    tflm: bool | None  # None: no TFLite Micro tree to ask
    family: str = ""  # the aot lowering module (tinypipe/aot/ops/<family>.py)


def tflm_builtins(tflm_dir: str | Path | None = None) -> tuple[set[str] | None, str]:
    """The builtins TensorFlow Lite Micro has a kernel for (None without a tree), and the source."""
    from tinypipe.tflm.library import resolver
    from tinypipe.tflm.tree import TFLM_COMMIT, find_tree

    try:
        tree = find_tree(tflm_dir)
    except TinypipeError as exc:
        return None, f"tflm column unknown: {exc.what}"
    r = resolver(tree)
    return ({op for op, (_, reg) in r.methods.items() if reg in r.kernel_files},
            f"TensorFlow Lite Micro {TFLM_COMMIT[:7]} at {tree}")


def operator_table(tflm_dir: str | Path | None = None) -> tuple[list[OpSupport], str]:
    """One row per operator either runtime knows, and where the tflm column came from."""
    from tinypipe.aot.lowering import op_families

    families = op_families()
    tflm_ops, source = tflm_builtins(tflm_dir)
    names = sorted(set(families) | (tflm_ops or set()))
    rows = [OpSupport(op, op in families, None if tflm_ops is None else op in tflm_ops, families.get(op, ""))
            for op in names]
    return rows, source
