"""ONNX in: a small CNN built with the `onnx` package's helpers (no PyTorch) goes through
`quantize model.onnx` -> `validate --board host` -> `bench --board qemu-m4`, and PyTorch or
unknown model files get one line saying what to do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tinypipe import graph
from tinypipe.onnx_in import onnx2tf_version

needs_onnx = pytest.mark.skipif(
    onnx2tf_version() is None,
    reason="the onnx extra (onnx2tf, onnx) is not installed: run `make onnx` (make test does)",
)


def build_onnx_cnn(path: Path) -> None:
    """conv3x3+ReLU -> maxpool -> conv3x3+ReLU -> flatten -> Gemm -> softmax, NCHW (1, 1, 8, 8)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name: str, shape: tuple[int, ...], scale: float) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["f"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"], name="fc"),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1, name="softmax"),
    ]
    g = helper.make_graph(
        nodes, "user_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [init("w1", (8, 1, 3, 3), 0.4), init("b1", (8,), 0.1), init("w2", (16, 8, 3, 3), 0.15),
         init("b2", (16,), 0.1), init("wf", (16 * 4 * 4, 10), 0.1), init("bf", (10,), 0.1)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@needs_onnx
@pytest.mark.qemu
@pytest.mark.slow
def test_onnx_quantize_validate_bench(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import MCU_OPS, run_cli

    build_onnx_cnn(tmp_path / "model.onnx")
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "calib.npz", x=rng.random((64, 1, 8, 8), np.float32))  # NCHW, as ONNX takes it
    np.savez(tmp_path / "test.npz", x=rng.random((20, 1, 8, 8), np.float32))
    out = tmp_path / "model.tflite"
    code, stdout, err = run_cli(["quantize", str(tmp_path / "model.onnx"), "--calib",
                                 str(tmp_path / "calib.npz"), "--test", str(tmp_path / "test.npz"),
                                 "--out", str(out)], capsys, monkeypatch)
    assert code == 0, err + stdout
    # the same full-int8 model a Keras user gets: int8 in and out, int8 kernels, NHWC input
    g = graph.load(out)
    assert [g.tensor(i).dtype for i in g.inputs + g.outputs] == ["int8", "int8"]
    assert g.tensor(g.inputs[0]).shape == (1, 8, 8, 1) and g.tensor(g.outputs[0]).shape == (1, 10)
    assert all(t.dtype != "float32" for t in g.tensors) and "QUANTIZE" not in g.opcodes
    assert set(g.opcodes) <= MCU_OPS | {"TRANSPOSE"}  # onnx2tf restores NCHW order before Flatten
    report = json.loads(out.with_name("model.quant.json").read_text())
    assert report["source"]["format"] == "onnx" and report["source"]["converter"].startswith("onnx2tf ")
    assert report["source"]["onnx_input"]["shape"] == [1, 1, 8, 8] and report["source"]["tflite_input"] == [
        1, 8, 8, 1]
    acc = report["accuracy"]  # unlabelled: int8 against the float (onnx2tf) model
    assert acc["metric"] == "cosine_similarity" and acc["float"] is None and acc["int8_host"] > 0.99
    assert "channels-first" in acc["notes"][0]

    code, stdout, err = run_cli(["validate", str(out), "--board", "host", "--samples", "20"],
                                capsys, monkeypatch)
    assert code == 0, err + stdout
    assert "20/20 samples bit-exact" in stdout

    bench_out = tmp_path / "bench"
    code, stdout, err = run_cli(["bench", str(out), "--board", "qemu-m4", "--runs", "2", "--validate", "5",
                                 "--out", str(bench_out)], capsys, monkeypatch)
    bench = json.loads((bench_out / "bench.json").read_text())
    assert code == 0, err + stdout + str(bench.get("error"))
    assert bench["validation"]["samples"] == 5 and bench["validation"]["bit_exact"] == 5
    assert bench["latency"]["median"] > 0


@pytest.mark.parametrize("name", ["model.pt", "weights.pth"])
def test_pytorch_files_point_at_torch_onnx_export(name: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / name).write_bytes(b"PK\x03\x04 not really a checkpoint")
    np.savez(tmp_path / "calib.npz", x=np.zeros((2, 4), np.float32))
    code, _, err = run_cli(["quantize", str(tmp_path / name), "--calib", str(tmp_path / "calib.npz"),
                            "--out", str(tmp_path / "m.tflite")], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in err
    first, hint = err.splitlines()[:2]
    assert first.startswith(f"error: {tmp_path / name}: a PyTorch file") and "torch.onnx.export" in hint


def test_other_formats_name_what_tinypipe_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model.pb").write_bytes(b"\x08\x01")
    np.savez(tmp_path / "calib.npz", x=np.zeros((2, 4), np.float32))
    code, _, err = run_cli(["quantize", str(tmp_path / "model.pb"), "--calib", str(tmp_path / "calib.npz"),
                            "--out", str(tmp_path / "m.tflite")], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in err
    assert "not a model format tinypipe reads (.pb)" in err.splitlines()[0]
    assert ".keras, .h5, a SavedModel directory or .onnx" in err


def test_onnx_without_the_extra_says_make_onnx(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import tinypipe.onnx_in as onnx_in

    monkeypatch.setattr(onnx_in, "onnx2tf_version", lambda: None)
    (tmp_path / "m.onnx").write_bytes(b"")
    np.savez(tmp_path / "calib.npz", x=np.zeros((2, 4), np.float32))
    code, _, err = run_cli(["quantize", str(tmp_path / "m.onnx"), "--calib", str(tmp_path / "calib.npz"),
                            "--out", str(tmp_path / "m.tflite")], capsys, monkeypatch)
    assert code == 2 and "onnx extra" in err and "make onnx" in err
