"""TensorFlow Lite Micro's own interpreter (the `tflite_micro` package) as a reference.

A tflm build is validated against TFLite Micro's semantics, not LiteRT's: the two disagree on
requantization ties and int8 softmax (MLPerf IC, AD, streaming wake word). The interpreter runs
in a child process (`python -m tinypipe.tflm.interpreter MODEL INPUTS OUTPUTS`), so a model that
crashes it ends in one clear line instead of taking tinypipe down with it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tinypipe.errors import TinypipeError

NAME = "the tflite_micro interpreter (TensorFlow Lite Micro's kernels)"
TIMEOUT_S = 600


class TflmReference:
    """Same interface as tinypipe.reference.Reference: input/output details and run_batch()."""

    label = NAME

    def __init__(self, model: str | Path) -> None:
        from tinypipe.reference import Reference

        self.model = Path(model)
        details = Reference(self.model)  # LiteRT knows the I/O details; TFLM's binding does not
        self.input_details, self.output_details = details.input_details, details.output_details

    def run_batch(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="tinypipe-tflm-") as tmp:
            src, dst = Path(tmp) / "inputs.npz", Path(tmp) / "outputs.npz"
            np.savez(src, *inputs)
            cmd = [sys.executable, "-m", "tinypipe.tflm.interpreter", str(self.model), str(src), str(dst),
                   str(len(self.output_details))]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise TinypipeError(f"{self.model}: {NAME} did not finish within {TIMEOUT_S} s",
                                    "validate fewer samples") from None
            if proc.returncode != 0 or not dst.is_file():
                last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
                raise TinypipeError(f"{self.model}: {NAME} failed: {last}",
                                    "check that TensorFlow Lite Micro supports every operator "
                                    "(tinypipe inspect)")
            with np.load(dst) as npz:
                return [npz[f"arr_{i}"] for i in range(len(npz.files))]


def _main(model: str, inputs: str, outputs: str, n_outputs: int) -> None:
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(model)
    with np.load(inputs) as npz:
        xs = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    results: list[list[np.ndarray]] = []
    for k in range(len(xs[0])):
        for i, x in enumerate(xs):
            interpreter.set_input(x[k], i)
        interpreter.invoke()
        outs = [np.array(interpreter.get_output(j)) for j in range(n_outputs)]
        results = results or [[] for _ in outs]
        for acc, o in zip(results, outs, strict=True):
            acc.append(o)
    np.savez(outputs, *(np.stack(acc) for acc in results))


if __name__ == "__main__":
    _main(*sys.argv[1:4], int(sys.argv[4]))
