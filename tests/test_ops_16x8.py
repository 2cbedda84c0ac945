"""16x8 quantization (int16 activations, int8 weights) in the aot runtime, bit for bit against LiteRT.

* Random op configs (tests/op_models.py, with its extreme representative ranges: scales from ~1e-5
  to ~10) converted 16x8 by the real converter (tests/op_models_16x8.py), run through the sanitized
  host runner and LiteRT's built-in kernels on inputs over the whole int16 range. The default slice
  is small (a fixed seed, a few configs per op); TINYPIPE_16X8_CONFIGS=N runs N per op.
* LOGISTIC, TANH and SOFTMAX on every kernel path LiteRT picks from the input scale, over every
  int16 input value; their tables against their definitions.
* `tinypipe quantize --activations int16` on a small conv net, then `validate` on the host and
  on qemu-m4 (firmware built with PlatformIO, int16 I/O over the serial protocol).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.op_models import sample_configs
from tests.op_models_16x8 import convert_group, run_suite
from tests.op_suite import CONVERTER_FAILED, Result, report
from tinypipe.aot import s16
from tinypipe.errors import TinypipeError
from tinypipe.graph import load

OPS_16X8 = ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "SUB",
            "MUL", "RESHAPE", "QUANTIZE", "CONCATENATION", "MEAN", "LOGISTIC", "TANH", "SOFTMAX"]
CONFIGS_PER_OP = int(os.environ.get("TINYPIPE_16X8_CONFIGS", "2"))
# Calibrations LiteRT's own int16 arithmetic is undefined for (an output scale ~2^15 times finer
# than the inputs'): the generator refuses them with this phrase; they are reported, not compared.
DEGENERATE = "which is undefined there"


def _refused(r: Result) -> bool:
    return r.error.startswith("aot generation failed") and DEGENERATE in r.error


def test_16x8_ops_are_bit_exact_with_litert(tmp_path: Path) -> None:
    configs = [c for op in OPS_16X8 for c in sample_configs(op, CONFIGS_PER_OP, seed=16)]
    results = run_suite(configs, tmp_path, n_inputs=40, seed=16)
    ran = [r for r in results.values() if r.error != CONVERTER_FAILED and not _refused(r)]
    failed = [r for r in ran if r.error]
    assert not failed, report(failed)
    covered = {r.config["op"] for r in ran}
    assert covered == set(OPS_16X8), f"no converted config for {set(OPS_16X8) - covered}"


# Calibration ranges [-r, r] (input scale r / 32767) and the LiteRT kernel path each one takes.
SIGMOID_BRANCHES = {
    8.0: "fixed point, Q3.12 (scale 2^-12 within CheckedLog2's tolerance)",
    16.0: "TANH: fixed point, input doubled (2^-11); LOGISTIC: table",
    1.0: "table, right shift 16",
    750.0: "table, right shift 6",
    3e5: "table, shift 0, the int32 product wraps",
    1e-6: "table, right shift 31",
}
SOFTMAX_RANGES = [(-1e5, 1e5), (-30.0, 10.0), (0.0, 0.004)]  # input shift 15 (wrapping), 8, -10


def _branch_configs() -> list[dict[str, object]]:
    configs: list[dict[str, object]] = []
    for op in ("LOGISTIC", "TANH"):
        for r in SIGMOID_BRANCHES:
            configs.append({"op": op, "shape": [2**16], "ranges": [[-r, r]]})
    for shape, (lo, hi) in zip([[37, 23], [5, 3, 200], [9]], SOFTMAX_RANGES, strict=True):
        configs.append({"op": "SOFTMAX", "shape": shape, "ranges": [[lo, hi]]})
    for i, c in enumerate(configs):
        c.update(id=f"branch-{i}-{str(c['op']).lower()}", seed=100 + i)
    return configs


def test_16x8_sigmoid_branches_are_chosen_as_litert_chooses() -> None:
    """The fixed configs of the next test reach every path (scales as the converter stores them)."""
    for tanh in (False, True):
        paths = {r: s16.sigmoid_input_rescale(float(np.float32(r / 32767)), tanh) for r in SIGMOID_BRANCHES}
        assert paths[8.0] is None and (paths[16.0] is None) == tanh
        assert paths[1.0] == (24576, 16) and paths[750.0] is not None and paths[750.0][1] == 6
        assert paths[3e5] is not None and paths[3e5][1] == 0 and paths[3e5][0] * 32768 > 2**31
        assert paths[1e-6] is not None and paths[1e-6][1] == 31


def test_16x8_logistic_tanh_softmax_every_branch_every_input(tmp_path: Path) -> None:
    """LOGISTIC and TANH over all 65536 int16 inputs on every kernel path; SOFTMAX with input
    rescaling shifts from -10 to +15 (where LiteRT's int32 left shift wraps)."""
    configs = _branch_configs()
    results = run_suite(configs, tmp_path, n_inputs=2, seed=5, every_value=True)  # type: ignore[arg-type]
    assert len(results) == len(configs)
    failed = [r for r in results.values() if r.error]
    assert not failed, report(failed)


def test_16x8_activation_tables_match_their_definitions() -> None:
    table = s16.sigmoid_table()
    exact = np.array([2**16 / (1 + math.exp(-i / 24)) for i in range(256)])
    assert table[0] == 2**15 and table[-1] == 2**16 - 1 and np.all(np.diff(table) >= 0)
    assert np.all((table - exact > -0.5) & (table - exact < 1.5))  # rounded; 60 entries one above
    values = np.arange(-(2**15), 2**15)
    for lut, fn in [(s16.softmax_exp_table(), lambda v: np.exp(10 * (v - 32767) / 65535)),
                    (s16.softmax_reciprocal_table(), lambda v: 1 / (1 + (v + 32768) / 65535))]:
        assert lut.shape == (513,)
        index, frac = 256 + (values >> 7), values & 0x7F
        interpolated = lut[index] + (((lut[index + 1] - lut[index]) * frac + 64) >> 7)
        assert np.abs(interpolated - fn(values) * 2**15).max() < 8  # 0.15 fixed point, within 2^-12


def test_16x8_unsupported_operator_names_tflm(tmp_path: Path) -> None:
    from tinypipe.aot.codegen import generate

    model = convert_group([{"op": "PAD", "id": "pad-16x8", "seed": 1, "shape": [2, 2, 1],
                            "pads": [[1, 0], [0, 1]], "ranges": [[-3.0, 3.0]]}])
    assert model is not None
    (tmp_path / "pad.tflite").write_bytes(model)
    with pytest.raises(TinypipeError) as err:
        generate(tmp_path / "pad.tflite", tmp_path / "gen", name="m")
    message = str(err.value).splitlines()[0]
    assert "PAD #0" in message and "int16 activations" in message and "--runtime tflm" in message


def _conv_net(path: Path) -> None:
    """A small conv net with every 16x8 kernel family of a typical image model."""
    import keras

    keras.utils.set_random_seed(3)
    x = inp = keras.Input((10, 10, 2), batch_size=1)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    skip = x
    x = keras.layers.Conv2D(6, 1, activation="relu6")(x)
    x = keras.layers.Add()([x, skip])
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(5)(x)
    keras.Model(inp, x).save(path)


@pytest.fixture(scope="module")
def model_16x8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("m16x8")
    _conv_net(work / "model.keras")
    rng = np.random.default_rng(0)
    np.savez(work / "calib.npz", x=rng.uniform(-1, 1, (40, 10, 10, 2)).astype(np.float32))
    from tinypipe.quantize import quantize

    r = quantize(work / "model.keras", work / "calib.npz", work / "model16.tflite", activations="int16")
    assert r.activations == "int16"
    return r.out


def test_quantize_int16_writes_a_16x8_model(model_16x8: Path) -> None:
    g = load(model_16x8)
    assert {g.tensor(i).dtype for i in (*g.inputs, *g.outputs)} == {"int16"}
    for op in g.operators:
        for t in g.op_outputs(op):
            assert t.dtype == "int16" and t.quant is not None and int(t.quant.zero_point[0]) == 0
    bias = [g.tensor(op.inputs[2]) for op in g.operators if op.opcode == "CONV_2D"]
    assert bias and all(b.dtype == "int64" for b in bias)


def test_16x8_model_validates_on_the_host(model_16x8: Path, tmp_path: Path) -> None:
    from tinypipe.validate import validate

    result = validate(model_16x8, board="host", samples=50, work_dir=tmp_path)
    assert result.bit_exact == result.samples == 50, result.summary()


@pytest.mark.qemu
def test_16x8_model_bit_exact_on_qemu_m4(model_16x8: Path, tmp_path: Path) -> None:
    from tinypipe.validate import validate

    result = validate(model_16x8, board="qemu-m4", samples=8, work_dir=tmp_path)
    assert result.bit_exact == result.samples == 8, result.summary()


def test_bad_activations_flag_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["quantize", str(tmp_path / "m.keras"), "--calib", str(tmp_path / "c.npz"),
            "--out", str(tmp_path / "m.tflite"), "--activations", "int4"]
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert code == 2 and "--activations int4" in err and "Traceback" not in err


def test_host_metric_scores_the_16x8_model(model_16x8: Path, tmp_path: Path) -> None:
    """What `tinypipe run` adds to a recipe's report: the 16x8 model's metric on the host, the
    same as scoring LiteRT's outputs by hand."""
    from tinypipe.quantize import host_metric
    from tinypipe.reference import Reference

    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (30, 10, 10, 2)).astype(np.float32)
    ref = Reference(model_16x8)
    in_scale, _ = ref.input_details[0]["quantization"]
    q = np.clip(np.round(x / in_scale), -32768, 32767).astype(np.int16)
    y = np.array([int(np.argmax(ref([row])[0])) for row in q])  # the labels the 16x8 model predicts
    np.savez(tmp_path / "test.npz", x=x, y=y)
    work = model_16x8.parent
    metric = host_metric(work / "model.keras", work / "calib.npz", tmp_path / "test.npz", "classification",
                         tmp_path / "m16.tflite")
    assert metric == 1.0
    g = load(tmp_path / "m16.tflite")
    assert g.tensor(g.inputs[0]).dtype == g.tensor(g.outputs[0]).dtype == "int16"
