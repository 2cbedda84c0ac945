"""Which runtime runs which operator: every TensorFlow Lite Micro builtin, aot and tflm side by side.

    operator_table(tflm_dir=None) -> list[OpSupport]

The aot column comes from the aot lowering registry (tinypipe.aot.lowering.supported_ops), the
tflm column from the TFLite Micro tree tinypipe builds (the MicroMutableOpResolver methods that
have a kernel in it). Without a tree, the tflm column is unknown rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tinypipe.errors import TinypipeError


@dataclass(frozen=True)
class OpSupport:
    op: str
    aot: bool
    tflm: bool | None  # None: no TFLite Micro tree to ask
    family: str = ""  # the aot lowering module (tinypipe/aot/ops/<family>.py)
    aot_int16: bool = False  # with int16 activations (16x8): tinypipe.aot.s16.S16_OPERATORS
    tflm_int16: bool | None = None  # its TFLM kernel source handles kTfLiteInt16 (None: no tree)


# Data movement: TFLite Micro's kernels copy bytes of any type without naming one.
TYPE_FREE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "GATHER", "SHAPE"}


def tflm_builtins(tflm_dir: str | Path | None = None) -> tuple[set[str] | None, str]:
    """The builtins TensorFlow Lite Micro has a kernel for (None without a tree), and the source."""
    from tinypipe.tflm.library import supported_ops
    from tinypipe.tflm.tree import TFLM_COMMIT, find_tree

    try:
        tree = find_tree(tflm_dir)
    except TinypipeError as exc:
        return None, f"tflm column unknown: {exc.what}"
    return supported_ops(tree), f"TensorFlow Lite Micro {TFLM_COMMIT[:7]} at {tree}"


@cache
def tflm_int16_builtins(tree: Path) -> frozenset[str]:
    """The builtins whose TensorFlow Lite Micro reference kernel (or its `<stem>_common.cc` helper)
    handles int16 tensors, plus the data-movement ones that copy any type (TYPE_FREE)."""
    from tinypipe.tflm.library import resolver, supported_ops

    r, ops = resolver(tree), supported_ops(tree)
    int16 = set(TYPE_FREE & ops)
    for op in ops:
        for name in (f for f in r.kernel_files[r.methods[op][1]] if "/cmsis_nn/" not in f):
            path = tree / name
            sources = [path, path.with_name(f"{path.stem}_common.cc")]
            if any(p.is_file() and "kTfLiteInt16" in p.read_text(errors="replace") for p in sources):
                int16.add(op)
    return frozenset(int16)


def operator_table(tflm_dir: str | Path | None = None) -> tuple[list[OpSupport], str]:
    """One row per operator either runtime knows, and where the tflm column came from."""
    from tinypipe.aot.lowering import op_families
    from tinypipe.aot.s16 import S16_OPERATORS
    from tinypipe.tflm.tree import find_tree

    families = op_families()
    tflm_ops, source = tflm_builtins(tflm_dir)
    tflm_int16 = None if tflm_ops is None else tflm_int16_builtins(find_tree(tflm_dir))
    names = sorted(set(families) | (tflm_ops or set()))
    rows = [OpSupport(op, op in families, None if tflm_ops is None else op in tflm_ops, families.get(op, ""),
                      op in S16_OPERATORS, None if tflm_int16 is None else op in tflm_int16)
            for op in names]
    return rows, source
