"""Your model, your data: a user's own Keras model and labelled images through `quantize --test`,
`validate --test`, `bench --test` (qemu-m4) and `inspect --quant-error`, plus the data formats,
the preprocessing hook and the metrics on their own."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tinypipe.dataset import InputSpec, load_test
from tinypipe.errors import TinypipeError
from tinypipe.metrics import accuracy_block, raw_metrics, task_metrics

CLASSES = ["horizontal", "square", "vertical"]  # sorted: the folder names give the label indices
SIDE = 12


def _images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """uint8 12x12 pictures of a horizontal bar, a square or a vertical bar, over noise."""
    y = rng.integers(0, 3, n)
    img = rng.integers(0, 60, (n, SIDE, SIDE)).astype(np.int32)
    for i, c in enumerate(y):
        a, b = rng.integers(1, SIDE - 4, 2)
        if c == 0:
            img[i, a : a + 2, 1:-1] += 180
        elif c == 1:
            img[i, a : a + 4, b : b + 4] += 180
        else:
            img[i, 1:-1, b : b + 2] += 180
    return np.clip(img, 0, 255).astype(np.uint8), y


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A user's own small CNN (not a recipe), trained here, with calibration data, a labelled
    image folder (one subfolder per class) and the same samples as an .npz."""
    import keras
    from keras import layers
    from PIL import Image

    root = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    x_img, y = _images(900, rng)
    x = (x_img / 255.0).astype(np.float32)[..., None]
    inp = keras.Input((SIDE, SIDE, 1))
    h = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inp)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_b")(h)
    h = layers.MaxPooling2D(2)(h)
    out = layers.Dense(3, activation="softmax", name="classifier")(layers.Flatten()(h))
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x[:800], y[:800], epochs=6, batch_size=32, verbose=0)
    model.save(root / "model.keras")
    np.savez(root / "calib.npz", x=x[:200])
    test_dir = root / "test_images"
    for i in range(800, 860):  # 60 labelled PNGs
        folder = test_dir / CLASSES[y[i]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x_img[i]).save(folder / f"{i}.png")
    files = sorted(test_dir.glob("*/*.png"))
    order = [int(f.stem) for f in sorted(files, key=lambda f: (f.parent.name, f.name))]
    np.savez(root / "test.npz", x=x[order], y=y[order])
    return {"dir": root, "model": root / "model.keras", "calib": root / "calib.npz", "images": test_dir,
            "npz": root / "test.npz"}


@pytest.fixture(scope="module")
def quantized(user: dict[str, Path]) -> Path:
    """model.tflite beside model.keras (so validate/bench/inspect find the float model)."""
    from tinypipe.quantize import quantize

    r = quantize(user["model"], user["calib"], user["dir"] / "model.tflite", test=user["images"])
    return r.out


def _check_classification(acc: dict, runs: tuple[str, ...], n: int) -> None:
    assert acc["task"] == "classification" and acc["metric"] == "accuracy" and acc["labelled"]
    assert acc["samples"] == n and acc.get("class_names", CLASSES) == CLASSES  # .npz data has no names
    for run in runs:
        assert acc[run] is not None and acc[run] > 0.8, (run, acc[run])
        confusion = np.array(acc["details"][run]["confusion_matrix"])
        assert confusion.shape == (3, 3) and confusion.sum() == n
        assert np.trace(confusion) / n == pytest.approx(acc[run])


def test_quantize_test_folder_of_images(user: dict[str, Path], quantized: Path,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    report = json.loads(quantized.with_name("model.quant.json").read_text())
    acc = report["accuracy"]
    _check_classification(acc, ("float", "int8_host"), 60)
    assert acc["kind"] == "images" and acc["device"] is None
    assert report["float_metric"] == acc["float"] and report["int8_metric"] == acc["int8_host"]
    assert abs(acc["float"] - acc["int8_host"]) <= 0.05
    # the same samples as an .npz of floats give the same figures (the images are exactly x * 255)
    again_out = user["dir"] / "again.tflite"
    code, out, err = run_cli(["quantize", str(user["model"]), "--calib", str(user["calib"]), "--test",
                              str(user["npz"]), "--out", str(again_out)], capsys, monkeypatch)
    assert code == 0, err
    assert "accuracy on 60 samples" in out
    again = json.loads((user["dir"] / "again.quant.json").read_text())["accuracy"]
    assert again["float"] == acc["float"] and again["int8_host"] == acc["int8_host"]


def test_quantize_unlabelled_compares_with_float(user: dict[str, Path], tmp_path: Path) -> None:
    from tinypipe.quantize import quantize

    np.savez(tmp_path / "x_only.npz", x=np.load(user["npz"])["x"][:30])
    r = quantize(user["model"], user["calib"], tmp_path / "m.tflite", test=tmp_path / "x_only.npz")
    assert r.task is None and r.metric == "cosine_similarity"
    assert r.float_metric is None  # not a trivially perfect 1.0 of float against itself
    assert r.int8_metric is not None and 0.98 < r.int8_metric <= 1.0
    details = r.accuracy["details"]["int8_host"] if r.accuracy else {}
    assert set(details) >= {"cosine_similarity", "relative_l2", "top1_agreement"}
    assert 0 < details["relative_l2"] < 0.2 and "float" not in r.accuracy["details"]


def test_validate_host_with_test_data(user: dict[str, Path], quantized: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out_json = tmp_path / "validate.json"
    code, out, err = run_cli(["validate", str(quantized), "--board", "host", "--test", str(user["images"]),
                              "--json", str(out_json)], capsys, monkeypatch)
    assert code == 0, err + out
    result = json.loads(out_json.read_text())
    assert result["samples"] == 60 and result["bit_exact"] == 60
    acc = result["accuracy"]
    _check_classification(acc, ("float", "int8_host", "device"), 60)
    assert acc["float_model"] == str(user["model"])  # found beside the .tflite
    assert acc["device"] == acc["int8_host"] and acc["device_board"] == "host"


@pytest.mark.qemu
@pytest.mark.slow
def test_bench_qemu_m4_with_test_data(user: dict[str, Path], quantized: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "bench"
    code, stdout, err = run_cli(["bench", str(quantized), "--board", "qemu-m4", "--runs", "2", "--test",
                                 str(user["npz"]), "--out", str(out)], capsys, monkeypatch)
    assert code == 0, err + stdout
    result = json.loads((out / "bench.json").read_text())
    assert result["validation"]["samples"] == 60 and result["validation"]["bit_exact"] == 60
    acc = result["accuracy"]
    _check_classification(acc, ("float", "int8_host", "device"), 60)
    # the device's outputs came back over the validation protocol: bit-exact, so the same accuracy
    assert acc["device"] == acc["int8_host"]
    assert acc["details"]["device"]["confusion_matrix"] == acc["details"]["int8_host"]["confusion_matrix"]
    assert "## Accuracy" in (out / "report.md").read_text()


def test_inspect_quant_error(user: dict[str, Path], quantized: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_cli(["inspect", str(quantized), "--quant-error", "--test", str(user["images"]),
                              "--samples", "20", "--json"], capsys, monkeypatch)
    assert code == 0, err
    report = json.loads(out)
    assert report["samples"] == 20 and report["float_model"] == str(user["model"])
    rows = report["layers"]
    assert rows[0]["index"] is None and rows[0]["opcode"] == "(input)"
    ops = [r for r in rows if r["index"] is not None]
    assert [r["opcode"] for r in ops][:2] == ["CONV_2D", "MAX_POOL_2D"]
    assert all(r["match"] == "name" for r in ops)  # the converter keeps the layer names
    # named after the Keras layers (Keras 3's export adds a _N suffix to the name scope)
    assert [r["layer"].rsplit("_", 1)[0] for r in ops if r["opcode"] == "CONV_2D"] == ["conv_a", "conv_b"]
    for r in rows:
        assert r["sqnr_db"] is not None and r["sqnr_db"] > 15, r
        assert r["rel_error"] == pytest.approx(10 ** (-r["sqnr_db"] / 20), rel=1e-6)
    assert report["worst"] in {r["index"] for r in ops}
    assert report["output_sqnr_db"] == ops[-1]["sqnr_db"]
    # the table for people: the worst layer is marked
    code, out, err = run_cli(["inspect", str(quantized), "--quant-error", "--test", str(user["npz"]),
                              "--samples", "5"], capsys, monkeypatch)
    assert code == 0, err
    assert "largest loss: op" in out and "SQNR" in out


def test_inspect_quant_error_needs_test_and_float(quantized: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(["inspect", str(quantized), "--quant-error"], capsys, monkeypatch)
    assert code == 2 and err.startswith("error: --quant-error and --test go together")
    alone = tmp_path / "alone.tflite"
    alone.write_bytes(quantized.read_bytes())
    np.savez(tmp_path / "t.npz", x=np.zeros((2, SIDE, SIDE, 1), np.float32))
    code, _, err = run_cli(["inspect", str(alone), "--quant-error", "--test", str(tmp_path / "t.npz")],
                           capsys, monkeypatch)
    assert code == 2 and "needs the float model" in err and "--float" in err


# --- the data formats and the hook, without TensorFlow --------------------------------------------

SPEC = InputSpec((1, 4, 4, 1), np.dtype("int8"), 1 / 255, -128)


def test_npz_float_int8_and_channels_first(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((5, 4, 4, 1)).astype(np.float32)
    np.savez(tmp_path / "f.npz", x=x, y=np.arange(5))
    data = load_test(tmp_path / "f.npz", SPEC)
    assert data.kind == "npz" and data.x.shape == (5, 4, 4, 1) and list(data.y) == [0, 1, 2, 3, 4]
    q = data.model_input()
    assert q.dtype == np.int8 and np.array_equal(q, SPEC.quantize(x))
    np.savez(tmp_path / "q.npz", x=q)  # already int8: kept as it is, dequantized for the float model
    data = load_test(tmp_path / "q.npz", SPEC)
    assert np.array_equal(data.model_input(), q) and np.allclose(data.x, x, atol=0.5 / 255 + 1e-6)
    assert data.y is None and "already quantized" in data.notes[0]
    spec3 = InputSpec((1, 4, 4, 3), np.dtype("int8"), 1 / 255, -128)
    np.savez(tmp_path / "nchw.npz", x=np.zeros((2, 3, 4, 4), np.float32))
    data = load_test(tmp_path / "nchw.npz", spec3)
    assert data.x.shape == (2, 4, 4, 3) and "channels-first" in data.notes[0]
    np.savez(tmp_path / "wide.npz", x=np.full((2, 4, 4, 1), 300, np.int32))
    with pytest.raises(TinypipeError, match="outside int8"):
        load_test(tmp_path / "wide.npz", SPEC)


def test_csv_with_header_class_names_and_hook(tmp_path: Path) -> None:
    rows = [",".join([f"v{i}" for i in range(16)] + ["label"])]  # a header: 16 inputs, a label column
    for i in range(4):
        rows.append(",".join([str(i * 10)] * 16 + [["cat", "dog"][i % 2]]))
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    data = load_test(tmp_path / "d.csv", SPEC, info={"class_names": ["cat", "dog"]})
    assert data.kind == "csv" and list(data.y) == [0, 1, 0, 1] and data.x[1, 0, 0, 0] == 10.0
    hook = tmp_path / "hook.py"
    hook.write_text("import numpy as np\n"
                    "def preprocess(x):\n    return (np.asarray(x) / 255.0).reshape(4, 4, 1)\n")
    data = load_test(tmp_path / "d.csv", SPEC, preprocess=hook, info={"class_names": ["cat", "dog"]})
    assert data.x[3, 0, 0, 0] == pytest.approx(30 / 255) and data.preprocess == f"hook {hook}"
    with pytest.raises(TinypipeError, match="not among the model's classes"):
        load_test(tmp_path / "d.csv", SPEC, info={"class_names": ["bird", "cat"]})
    (tmp_path / "short.csv").write_text("1,2,3\n")
    with pytest.raises(TinypipeError, match="3 columns, the model input has 16 values"):
        load_test(tmp_path / "short.csv", SPEC)


def test_wav_folder_with_hook_and_errors(tmp_path: Path) -> None:
    for cls in ("noise", "tone"):
        (tmp_path / "wavs" / cls).mkdir(parents=True)
        for k in range(2):
            with wave.open(str(tmp_path / "wavs" / cls / f"{k}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes((np.sin(np.arange(800) * (k + 1)) * 8000).astype(np.int16).tobytes())
    hook = tmp_path / "feat.py"
    hook.write_text("import numpy as np\ndef preprocess(x, rate):\n"
                    "    assert rate == 8000 and x.dtype == np.float32 and abs(x).max() <= 1\n"
                    "    return np.abs(np.fft.rfft(x[:30]))[:16].reshape(4, 4, 1) / 30\n")
    data = load_test(tmp_path / "wavs", SPEC, preprocess=hook)
    assert data.kind == "wav" and list(data.y) == [0, 0, 1, 1] and data.class_names == ["noise", "tone"]
    with pytest.raises(TinypipeError, match="WAV files need preprocessing"):
        load_test(tmp_path / "wavs", SPEC)
    bad = tmp_path / "bad.py"
    bad.write_text("def preprocess(x, rate):\n    return x[:5]\n")
    with pytest.raises(TinypipeError, match=r"preprocess\(\) returned shape \(5,\)"):
        load_test(tmp_path / "wavs", SPEC, preprocess=bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TinypipeError, match="no images"):
        load_test(tmp_path / "empty", SPEC)


def test_metrics_per_task() -> None:
    y = np.array([0, 1, 2, 2])
    out = np.eye(3)[[0, 2, 2, 2]]
    m = task_metrics("classification", np.zeros((4, 1)), y, out)
    assert m["accuracy"] == 0.75 and m["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]
    m = task_metrics("regression", np.zeros((4, 1)), np.array([0.0, 1, 2, 3]), np.array([0.0, 1, 2, 5]))
    assert m["mae"] == 0.5 and m["rmse"] == pytest.approx(1.0)
    r = raw_metrics(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert r["cosine_similarity"] == 1.0 and r["top1_agreement"] == 1.0
    assert r["relative_l2"] == pytest.approx(1 / np.sqrt(2))


def test_accuracy_block_for_anomaly_and_regression(tmp_path: Path) -> None:
    from tinypipe.dataset import TestData

    x = np.random.default_rng(1).random((8, 6)).astype(np.float32)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    recon = x.copy()
    recon[4:] += 0.5  # anomalies reconstruct badly
    data = TestData(tmp_path, "npz", x, labels, "none")
    block = accuracy_block(data, {"float": recon, "int8_host": recon, "device": None}, out_shape=(1, 6))
    assert block["task"] == "anomaly" and block["metric"] == "roc_auc" and block["float"] == 1.0
    assert block["device"] is None and "device" not in block["details"]
    data = TestData(tmp_path, "csv", x[:, :1], x[:, 0] * 2, "none", task="regression")
    block = accuracy_block(data, {"int8_host": x[:, :1] * 2 + 0.1}, out_shape=(1, 1))
    assert block["metric"] == "mae" and block["int8_host"] == pytest.approx(0.1, abs=1e-6)
    assert block["details"]["int8_host"]["rmse"] == pytest.approx(0.1, abs=1e-6)
