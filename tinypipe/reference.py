"""The one place that runs a `.tflite` on the host for reference outputs.

LiteRT with `BUILTIN_WITHOUT_DEFAULT_DELEGATES` uses TFLite's built-in kernels only; every
bit-exactness check in tinypipe compares against this class and nothing else. A model is
verified and probed in a child process before LiteRT loads it here (see `Reference`). The default
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
from typing import Any

import numpy as np

from tinypipe.errors import TinypipeError
from tinypipe.verify import run_isolated

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _interpreter(model: str | bytes) -> Any:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": model}
    it = Interpreter(**kwargs, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return it


def _probe(model: str | bytes) -> None:
    """Runs in a forked child: load, allocate and invoke once on zeros, as the parent will."""
    it = _interpreter(model)
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


class Reference:
    """A reference interpreter for one model; call it with a list of input arrays.

    The model is verified (`tinypipe.verify`) and then loaded, allocated and invoked once in a
    child process before LiteRT touches it in this one: a model that crashes LiteRT ends in a
    TinypipeError, and so does anything LiteRT refuses.
    """

    def __init__(self, model: str | Path | bytes) -> None:
        from tinypipe.graph import load, parse

        name = "<bytes>" if isinstance(model, bytes) else str(model)
        if isinstance(model, bytes):
            parse(model, name)
        else:
            load(model)
        source = model if isinstance(model, bytes) else str(model)
        hint = "check the file is a valid .tflite model (tinypipe inspect)"
        run_isolated(_probe, source, what=f"{name}: the reference interpreter (LiteRT)")
        try:
            self._it = _interpreter(source)
        except (ValueError, RuntimeError) as exc:
            raise TinypipeError(f"{name}: the reference interpreter cannot load it ({_one_line(exc)})",
                                hint) from None
        self.name = name
        self.input_details = self._it.get_input_details()
        self.output_details = self._it.get_output_details()

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != len(self.input_details):
            raise TinypipeError(f"model takes {len(self.input_details)} inputs, got {len(inputs)}")
        try:
            for detail, value in zip(self.input_details, inputs, strict=True):
                value = np.asarray(value)
                if tuple(value.shape) != tuple(detail["shape"]):
                    value = value.reshape(detail["shape"])
                self._it.set_tensor(detail["index"], value.astype(detail["dtype"], copy=False))
            self._it.invoke()
        except (ValueError, RuntimeError) as exc:
            raise TinypipeError(f"{self.name}: the reference interpreter failed ({_one_line(exc)})",
                                "check the inputs match the model's (tinypipe inspect lists them)") from None
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
