"""Operators whose interesting cases the TensorFlow converter cannot be steered into, on exact
hand-built one-op models (tests/tflite_builder.py), bit for bit against LiteRT:

* QUANTIZE int8 -> int8 (requantization) on 1..100 elements, with scale ratios that put rounding
  ties at the doubling high multiply (ratio 1/2, 3/2: shift 0) and at the final shift (1/4, 3/8,
  5/16...): LiteRT rounds blocks of 16 elements with NEON (ties upward at both) and the size % 16
  tail with the scalar rule (ties away from zero at the shift). Each model sees every int8 value
  at every position.
* MEAN over H x W with 1..40 channels and tie-producing scales: LiteRT's optimized mean rounds
  16 channels at a time with NEON, the channels % 16 tail with the scalar rule.
* MUL of same-shape tensors whose scaled products leave the int16 range: LiteRT's NEON loop
  saturates them to int16 and adds the output offset with a wrapping int16 add.
* EXPAND_DIMS and SQUEEZE (the converter emits RESHAPE for both), ELU (the converter keeps it in
  float), TILE (ranks 1-5, int8 and the int16 of 16x8 models) and NEG (LiteRT negates the raw
  int8 value), with random scales and zero points.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.tflite_builder import Io, one_op_model, squeeze_options
from tinypipe.aot.codegen import generate
from tinypipe.device.host import HostRunner
from tinypipe.reference import Reference

SIZES = range(1, 101)
# input scale / output scale: ties at the high multiply (shift 0: 1/2, 3/2 -> 3/4 * 2^1) and at the
# final shift (1/4, 3/8, 5/16, 1/8, 3/16...), one left shift (5/2), one plain ratio
RATIOS = [0.25, 0.5, 0.375, 0.3125, 0.125, 1.5, 0.1875, 2.5, 0.75, 0.0625, 1.0, 0.37]
Models = dict[str, tuple[bytes, HostRunner]]  # name -> (model, the runner holding every model)
MUL_SIZES = [5, 16, 21, 40, 100]
SAMPLES = 256  # sample s holds value (s + 37 * position) mod 256 at each position: all values everywhere


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, HostRunner]]:
    work = tmp_path_factory.mktemp("exact")
    built: dict[str, bytes] = {}
    rng = np.random.default_rng(13)
    for n in SIZES:
        ratio = RATIOS[n % len(RATIOS)]
        zp_in, zp_out = (int(z) for z in rng.integers(-128, 128, 2))
        out_scale = float(2.0 ** rng.integers(-12, 4))
        built[f"requant_{n}"] = one_op_model("QUANTIZE", [Io((1, n), ratio * out_scale, zp_in)],
                                             [Io((1, n), out_scale, zp_out)])
    for channels in (1, 7, 15, 16, 17, 31, 32, 33, 40):  # MEAN over H x W (keep_dims)
        h, w = int(rng.integers(1, 5)), int(rng.integers(2, 5))
        zp_in, zp_out = (int(z) for z in rng.integers(-128, 128, 2))
        # ratio / count with count = h*w: ties when it is a small dyadic fraction
        built[f"mean_{channels}"] = one_op_model(
            "MEAN", [Io((1, h, w, channels), 0.5 * h * w, zp_in), Io((2,), data=np.array([1, 2], np.int32))],
            [Io((1, 1, 1, channels), 1.0, zp_out)], options=_keep_dims)
    for n in MUL_SIZES:  # same-shape MUL whose scaled products leave int16 (LiteRT's NEON path wraps)
        zp1, zp2, zpo = (int(z) for z in rng.integers(-128, 128, 3))
        built[f"mul_{n}"] = one_op_model("MUL", [Io((1, n), 0.5, zp1), Io((1, n), 0.25, zp2)],
                                         [Io((1, n), float(2.0 ** rng.integers(-9, -2)), zpo)])
    for i in range(6):
        shape = tuple(int(d) for d in rng.integers(1, 5, int(rng.integers(1, 5))))
        scale, zp = float(rng.choice([0.002, 0.1, 3.0])), int(rng.integers(-128, 128))
        axis = int(rng.integers(-len(shape) - 1, len(shape) + 1))
        pos = axis + len(shape) + 1 if axis < 0 else axis
        out_shape = shape[:pos] + (1,) + shape[pos:]
        built[f"expand_dims_{i}"] = one_op_model(
            "EXPAND_DIMS", [Io(shape, scale, zp), Io((1,), data=np.array([axis], np.int32))],
            [Io(out_shape, scale, zp)])
        built[f"squeeze_{i}"] = one_op_model("SQUEEZE", [Io(out_shape, scale, zp)], [Io(shape, scale, zp)],
                                             squeeze_options([pos]))
        in_scale, out_scale = (float(s) for s in rng.choice([0.003, 0.02, 0.1, 0.7], 2))
        built[f"elu_{i}"] = one_op_model("ELU", [Io(shape, in_scale, int(rng.integers(-128, 128)))],
                                         [Io(shape, out_scale, int(rng.integers(-128, 128)))])
    for i in range(6):  # TILE (UpSampling1D, tf.tile): ranks 1-5, multiples 1-3; NEG: a wrapping negate
        shape = tuple(int(d) for d in rng.integers(1, 4, i % 5 + 1))
        multiples = rng.integers(1, 4, len(shape)).astype(np.int32)
        scale, zp = float(rng.choice([0.002, 0.1, 3.0])), int(rng.integers(-128, 128))
        tiled = tuple(int(d * m) for d, m in zip(shape, multiples, strict=True))
        built[f"tile_{i}"] = one_op_model("TILE", [Io(shape, scale, zp), Io((len(shape),), data=multiples)],
                                          [Io(tiled, scale, zp)])
        built[f"tile_s16_{i}"] = one_op_model(
            "TILE", [Io(shape, scale, 0, dtype="int16"), Io((len(shape),), data=multiples)],
            [Io(tiled, scale, 0, dtype="int16")])
        out_scale, out_zp = float(rng.choice([scale, 0.5])), int(rng.integers(-128, 128))
        built[f"neg_{i}"] = one_op_model("NEG", [Io(shape, scale, zp)], [Io(shape, out_scale, out_zp)])
    aot = []
    for k, (name, model) in enumerate(built.items()):
        path = work / f"{name}.tflite"
        path.write_bytes(model)
        aot.append(generate(path, work / "gen", name=f"x{k}"))
    runner = HostRunner(aot, work / "host")
    return {name: (model, runner) for name, model in built.items()} | {"": (b"", runner)}


def _keep_dims(b: object) -> tuple[int, int]:
    import tflite as fb

    fb.ReducerOptionsStart(b)
    fb.ReducerOptionsAddKeepDims(b, True)
    return fb.BuiltinOptions.ReducerOptions, fb.ReducerOptionsEnd(b)


def _check(models: Models, name: str,
           make_inputs: Callable[[tuple[int, ...]], np.ndarray] | None = None) -> None:
    model, runner = models[name]
    reference = Reference(model)
    shape = tuple(int(d) for d in reference.input_details[0]["shape"])
    size = int(np.prod(shape))
    if make_inputs is None:
        positions = np.arange(size)
        x = ((np.arange(SAMPLES)[:, None] + 37 * positions[None, :]) % 256 - 128).astype(np.int8)
        x = x.reshape(SAMPLES, *shape)
    else:
        x = make_inputs(shape)
    want = reference.run_batch([x])[0]
    got = runner.run(f"x{list(models).index(name)}", [x])[0]
    assert got.shape == want.shape
    bad = np.argwhere(got != want)
    assert bad.size == 0, (f"{name}: {len(bad)} elements differ, first at sample/index {bad[0].tolist()}: "
                           f"aot {got[tuple(bad[0])]} vs LiteRT {want[tuple(bad[0])]}")


@pytest.mark.parametrize("n", SIZES)
def test_requantize_int8_bit_exact(n: int, models: Models) -> None:
    _check(models, f"requant_{n}")


@pytest.mark.parametrize("channels", [1, 7, 15, 16, 17, 31, 32, 33, 40])
def test_mean_hw_vector_channels_bit_exact(channels: int, models: Models) -> None:
    rng = np.random.default_rng(channels)
    _check(models, f"mean_{channels}",
           lambda shape: rng.integers(-128, 128, (SAMPLES, *shape), dtype=np.int8))


@pytest.mark.parametrize("n", MUL_SIZES)
def test_mul_int16_narrowing_bit_exact(n: int, models: Models) -> None:
    rng = np.random.default_rng(n)
    model, runner = models[f"mul_{n}"]
    x = [rng.integers(-128, 128, (SAMPLES, 1, n), dtype=np.int8) for _ in range(2)]
    want = Reference(model).run_batch(x)[0]
    got = runner.run(f"x{list(models).index(f'mul_{n}')}", x)[0]
    assert np.array_equal(got, want), f"mul_{n}: {int((got != want).sum())} elements differ"


@pytest.mark.parametrize("op", ["expand_dims", "squeeze", "elu", "tile", "neg"])
def test_unconverted_ops_bit_exact(op: str, models: Models) -> None:
    for i in range(6):
        _check(models, f"{op}_{i}")


def test_tile_int16_bit_exact(models: Models) -> None:
    rng = np.random.default_rng(16)
    for i in range(6):
        _check(models, f"tile_s16_{i}",
               lambda shape: rng.integers(-(2**15), 2**15, (SAMPLES, *shape), dtype=np.int16))


def test_requantize_ties_are_exercised() -> None:
    """The scale ratios really produce ties on both roundings, on both paths (else the test above
    proves little): count the inputs where LiteRT's vector and scalar rules disagree."""
    from tinypipe.aot.quant import multiply_by_quantized_multiplier, quantize_multiplier, requantize_upward

    differing = 0
    for ratio in RATIOS:
        m, s = quantize_multiplier(ratio)
        for x in range(-255, 256):
            upward = requantize_upward(x, m, s, 0, -(2**31), 2**31)
            differing += upward != multiply_by_quantized_multiplier(x, m, s)
    assert differing > 500


def test_builder_models_are_single_ops(models: Models) -> None:
    from tinypipe.graph import parse

    for name, (model, _) in models.items():
        if name:
            assert len(parse(model).operators) == 1, name


@pytest.mark.parametrize("opcode", ["SIN", "LOG", "ARG_MAX"])
def test_other_builtins_are_refused_naming_the_op_and_tflm(opcode: str, tmp_path: Path) -> None:
    from tinypipe.errors import TinypipeError

    path = tmp_path / f"{opcode.lower()}.tflite"
    path.write_bytes(one_op_model(opcode, [Io((1, 8), 0.1, 3)], [Io((1, 8), 0.1, 3)]))
    with pytest.raises(TinypipeError) as err:
        generate(path, tmp_path / "gen")
    message = str(err.value).splitlines()[0]
    assert f"{opcode} #0" in message and "--runtime tflm" in message


def test_the_registry_is_the_list_of_supported_ops() -> None:
    """One source of truth: every registered op has a family module and a C kernel declared in
    runtime/kernels (or is a zero-copy alias)."""
    import importlib

    from tinypipe.aot.codegen import kernel_headers
    from tinypipe.aot.lowering import op_families, supported_ops

    families = op_families()
    assert sorted(families) == supported_ops()
    assert {"SUB", "RELU", "TRANSPOSE", "SPLIT", "SUM", "GATHER", "TRANSPOSE_CONV", "DIV"} <= set(families)
    source = {f: importlib.import_module(f"tinypipe.aot.ops.{f}").__file__ for f in set(families.values())}
    kernels = kernel_headers()
    for opcode, family in families.items():
        text = Path(str(source[family])).read_text()
        assert f'"{opcode}"' in text, (opcode, family)
        for kernel in set(__import__("re").findall(r'kernel="(tp_\w+)"', text)):
            assert kernel in kernels, f"{kernel} ({family}.py) is not declared in runtime/kernels/*.h"
