"""The one place that runs a `.tflite` on the host for reference outputs.

LiteRT with `BUILTIN_WITHOUT_DEFAULT_DELEGATES` uses TFLite's built-in kernels only; every
bit-exactness check in tinypipe compares against this class and nothing else. The default
resolver adds XNNPACK, whose int8 outputs differ by a few LSB on ~20% of values.

Measured here: the built-in kernels agree with TensorFlow Lite Micro except in two places —
CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED round the final requantization shift's ties
upward (TFLM and CMSIS-NN round them away from zero), and int8 SOFTMAX uses a float exp table
(TFLM a fixed-point exp). The `aot` runtime matches this reference by default and TFLM when
built with `-DTP_TFLM_ROUNDING` (see tinypipe/runtime/README.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinypipe.errors import TinypipeError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class Reference:
    """A reference interpreter for one model; call it with a list of input arrays."""

    def __init__(self, model: str | Path | bytes) -> None:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
        try:
            self._it = Interpreter(
                **kwargs,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            name = "<bytes>" if isinstance(model, bytes) else str(model)
            raise TinypipeError(f"{name}: the reference interpreter cannot load it ({exc})",
                                "check the file is a valid .tflite model") from None
        self.input_details = self._it.get_input_details()
        self.output_details = self._it.get_output_details()

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != len(self.input_details):
            raise TinypipeError(f"model takes {len(self.input_details)} inputs, got {len(inputs)}")
        for detail, value in zip(self.input_details, inputs, strict=True):
            value = np.asarray(value)
            if tuple(value.shape) != tuple(detail["shape"]):
                value = value.reshape(detail["shape"])
            self._it.set_tensor(detail["index"], value.astype(detail["dtype"], copy=False))
        self._it.invoke()
        return [self._it.get_tensor(d["index"]).copy() for d in self.output_details]

    def run_batch(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run a batch stacked on axis 0 of each input; returns outputs stacked likewise."""
        n = len(inputs[0])
        results = [self([x[i] for x in inputs]) for i in range(n)]
        return [np.stack([r[j] for r in results]) for j in range(len(self.output_details))]


def random_inputs(details: list[dict], n: int, seed: int = 0) -> list[np.ndarray]:
    """n random samples per model input, uniform over the input dtype's full range."""
    rng = np.random.default_rng(seed)
    out = []
    for d in details:
        shape = (n, *[int(s) for s in d["shape"]])
        dtype = np.dtype(d["dtype"])
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            out.append(rng.integers(info.min, info.max + 1, size=shape, dtype=dtype))
        else:
            out.append(rng.standard_normal(shape).astype(dtype))
    return out
