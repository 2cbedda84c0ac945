"""The user's test data (`--test DATA`), turned into the model's inputs with its labels.

DATA is one of:

- an `.npz` with `x` (N, *input shape) and optionally `y` (one label per row). Float `x` is in
  the float model's input units and is quantized with the int8 input's scale and zero point;
  integer `x` is taken as already quantized (it must fit the input's type) and is dequantized
  for the float model. Channels-first `x` (N, C, H, W) for an (1, H, W, C) input, as an ONNX
  model's data is, is transposed (and a note says so).
- a folder of images (.png .jpg .jpeg .bmp .gif .pgm .ppm .tif .tiff): `DATA/<class>/<file>`
  gives labelled samples (classes named by train.json's class_names beside the model, else
  sorted folder names), files directly in DATA unlabelled samples.
- a folder of WAV files, laid out the same way.
- a `.csv` file, one sample per row: the model input's values in order, plus the label in a
  column headed `y`, `label` or `class` (without a header: an extra last column is the label).
  Labels may be class names.

Preprocessing (raw file -> model input):

- `--preprocess HOOK.py`, a Python file defining `preprocess(x) -> np.ndarray`, called once per
  sample with the raw sample: an image as decoded (uint8, (H, W) or (H, W, 3|4)), a WAV file's
  mono float32 samples in [-1, 1] (if the hook has a parameter named `rate`, it gets the sample
  rate too), a CSV row's values (float64), an .npz row of `x`. It returns the model's float input
  (or an already quantized integer input) for that sample.
- else the recipe's (train.json beside the model): `kws` turns WAV files into its MFCCs (16 kHz,
  one second, padded or cut at the end);
- else the default: images are converted to grey or RGB for the input's channels, resized
  (bilinear) to the input's height and width and scaled to [0, 1], as every image recipe's
  inputs are; CSV values and .npz arrays are taken as they are. WAV files need the kws recipe
  or a hook.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinypipe.errors import TinypipeError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff")
WAV_SUFFIXES = (".wav",)
LABEL_COLUMNS = ("y", "label", "class")
FORMATS = ("an .npz with x (and y)", "a folder of images or WAV files (one subfolder per class)",
           "a .csv file")


@dataclass
class InputSpec:
    """The model input the data must fit: shape with the batch of 1, dtype and quantization."""

    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0

    @classmethod
    def from_detail(cls, detail: Mapping[str, Any]) -> InputSpec:
        scale, zero = detail.get("quantization", (0.0, 0))
        return cls(tuple(int(s) for s in detail["shape"]), np.dtype(detail["dtype"]), float(scale), int(zero))

    @property
    def quantized(self) -> bool:
        return self.dtype.kind in "iu"

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Real values to the input's integer type as TFLite does (round half away from zero)."""
        info = np.iinfo(self.dtype)
        scaled = np.asarray(x, np.float32) / np.float32(self.scale)
        rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))
        return np.clip(rounded + self.zero_point, info.min, info.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return ((np.asarray(q, np.float32) - np.float32(self.zero_point)) * np.float32(self.scale))


@dataclass
class TestData:
    """Test samples in the model's float input units (`x`), with labels `y` when the data has them."""

    source: Path
    kind: str  # npz, images, wav, csv
    x: np.ndarray  # (N, *input shape without the batch), float32
    y: np.ndarray | None
    preprocess: str  # how raw samples became inputs
    xq: np.ndarray | None = None  # the integer inputs when the data came already quantized
    spec: InputSpec | None = None
    class_names: list[str] = field(default_factory=list)
    task: str | None = None  # train.json's task beside the model, if any
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x)

    def model_input(self, detail: Mapping[str, Any] | InputSpec | None = None) -> np.ndarray:
        """The inputs for a model input (a LiteRT input detail or InputSpec), N on axis 0."""
        spec = detail if isinstance(detail, InputSpec) else (
            InputSpec.from_detail(detail) if detail is not None else self.spec)
        if spec is None or not spec.quantized:
            return self.x.reshape(len(self.x), *(spec.shape[1:] if spec else self.x.shape[1:]))
        if self.xq is not None and self.spec is not None and (spec.scale, spec.zero_point, spec.dtype) == (
                self.spec.scale, self.spec.zero_point, self.spec.dtype):
            return self.xq.reshape(len(self.xq), *spec.shape[1:])
        return spec.quantize(self.x).reshape(len(self.x), *spec.shape[1:])

    def head(self, n: int) -> TestData:
        """The first n samples."""
        return TestData(self.source, self.kind, self.x[:n], None if self.y is None else self.y[:n],
                        self.preprocess, None if self.xq is None else self.xq[:n], self.spec,
                        self.class_names, self.task, self.notes)


def train_info(*models: str | Path | None) -> dict[str, Any]:
    """train.json beside (or inside, for a SavedModel) the first model that has one; {} if none."""
    for model in models:
        if model is None:
            continue
        m = Path(model)
        for candidate in (m.parent / "train.json", m / "train.json", m.parent / "train" / "train.json"):
            if candidate.is_file():
                with contextlib.suppress(ValueError, OSError):
                    info: dict[str, Any] = json.loads(candidate.read_text())
                    return info
    return {}


def check_source(path: str | Path, flag: str = "--test") -> Path:
    """Fail fast (before minutes of conversion or building) on a DATA path that cannot be test data."""
    path = Path(path)
    if path.is_dir():
        return path
    if not path.is_file():
        raise TinypipeError(f"{flag} {path}: no such file or folder", f"{flag} takes {', '.join(FORMATS)}")
    if path.suffix.lower() not in (".npz", ".csv"):
        raise TinypipeError(f"{flag} {path}: not test data tinypipe reads ({path.suffix or 'no suffix'})",
                            f"{flag} takes {', '.join(FORMATS)}")
    return path


def load_hook(path: str | Path | None) -> Callable[..., Any] | None:
    """The `preprocess` function of a user's Python file."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file() or path.suffix != ".py":
        raise TinypipeError(f"--preprocess {path}: not a Python file",
                            "pass a .py file defining preprocess(x) -> np.ndarray")
    spec = importlib.util.spec_from_file_location(f"tinypipe_preprocess_{abs(hash(str(path)))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise TinypipeError(f"--preprocess {path}: importing it failed ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:200]})", "fix the file; it is run as a module") \
            from None
    fn = getattr(module, "preprocess", None)
    if not callable(fn):
        raise TinypipeError(f"--preprocess {path}: defines no function preprocess(x)",
                            "add def preprocess(x): ... returning the model input as a NumPy array")
    fn.__tinypipe_path__ = str(path)  # type: ignore[attr-defined]
    return fn  # type: ignore[no-any-return]


def _call_hook(hook: Callable[..., Any], sample: Any, where: str, rate: int | None = None) -> np.ndarray:
    try:
        takes_rate = rate is not None and "rate" in inspect.signature(hook).parameters
        out = hook(sample, rate=rate) if takes_rate else hook(sample)
        return np.asarray(out)
    except TinypipeError:
        raise
    except Exception as exc:
        raise TinypipeError(f"--preprocess {getattr(hook, '__tinypipe_path__', 'hook')}: preprocess() failed "
                            f"on {where} ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})",
                            "make preprocess(x) return the model's input for one sample") from None


# --- the formats ------------------------------------------------------------------------------


def _labelled_files(root: Path, suffixes: tuple[str, ...]) -> tuple[list[Path], list[str] | None]:
    """Files under root: directly in it (no labels) or one level down (the folder is the class)."""
    flat = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    nested = sorted(p for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
                    for p in d.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if flat and nested:
        raise TinypipeError(f"{root}: has files both directly in it and in class subfolders",
                            "put every file in a subfolder named after its class, or none of them")
    files = nested or flat
    return files, ([p.parent.name for p in files] if nested else None)


def _label_indices(names: list[str], class_names: list[str], where: Path) -> tuple[np.ndarray, list[str]]:
    known = class_names or sorted(set(names))
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise TinypipeError(f"{where}: class(es) {', '.join(unknown)} are not among the model's classes "
                            f"({', '.join(known)})", "name each class folder or label after a class in "
                            "train.json's class_names")
    return np.array([known.index(n) for n in names], np.int64), known


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(img.convert("RGB") if img.mode not in ("L", "RGB", "RGBA") else img)
    except Exception as exc:
        raise TinypipeError(f"{path}: cannot read the image ({type(exc).__name__})",
                            "use PNG, JPEG, BMP, GIF, PGM/PPM or TIFF files") from None


def image_to_input(img: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The default image preprocessing: grey or RGB for the channels, bilinear resize, [0, 1]."""
    from PIL import Image

    if len(shape) != 4:
        raise TinypipeError(f"images need a model input of shape (1, H, W, C); this model's is {shape}",
                            "pass an .npz or CSV, or --preprocess HOOK.py")
    h, w, c = shape[1:]
    if c not in (1, 3):
        raise TinypipeError(f"images can fill 1 or 3 input channels, the model has {c}",
                            "use --preprocess HOOK.py to build the input from the image")
    pil = Image.fromarray(img).convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
    arr = np.asarray(pil, np.float32) / 255.0
    return arr.reshape(h, w, c)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except Exception as exc:
        raise TinypipeError(f"{path}: cannot read the WAV file ({' '.join(str(exc).split())[:150]})",
                            "use PCM or float WAV files") from None
    if data.dtype.kind in "iu":
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float32) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    data = data.astype(np.float32)
    return (data.mean(axis=1) if data.ndim == 2 else data), int(rate)


def kws_features(audio: np.ndarray, rate: int) -> np.ndarray:
    """The kws recipe's preprocessing: 16 kHz, one second (padded or cut at the end), MFCCs."""
    from math import gcd

    from scipy.signal import resample_poly

    from tinypipe.recipes import kws

    if rate != kws.RATE:
        g = gcd(kws.RATE, rate)
        audio = resample_poly(audio, kws.RATE // g, rate // g).astype(np.float32)
    clip = np.zeros(kws.RATE, np.float32)
    clip[: min(len(audio), kws.RATE)] = audio[: kws.RATE]
    return kws.mfcc(clip[None])[0]


def _read_csv(path: Path, size: int) -> tuple[np.ndarray, list[str] | None]:
    try:
        with path.open(newline="") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise TinypipeError(f"{path}: cannot read the CSV file ({type(exc).__name__})") from None
    if not rows:
        raise TinypipeError(f"{path}: the CSV file has no rows", "one sample per row")

    def numeric(cell: str) -> bool:
        try:
            float(cell)
            return True
        except ValueError:
            return False

    header = None if all(numeric(c) for c in rows[0]) else [c.strip().lower() for c in rows[0]]
    body = rows[1:] if header is not None else rows
    width = len(rows[0])
    label_col = None
    if header is not None:
        label_col = next((header.index(n) for n in LABEL_COLUMNS if n in header), None)
    elif width == size + 1:
        label_col = width - 1
    if width - (label_col is not None) != size:
        raise TinypipeError(f"{path}: rows have {width} columns, the model input has {size} values"
                            + (" (+ a label column)" if label_col is None else ""),
                            f"one row per sample: {size} input values, plus a column headed y or label")
    values = np.empty((len(body), size), np.float64)
    labels: list[str] | None = [] if label_col is not None else None
    for i, row in enumerate(body):
        if len(row) != width:
            raise TinypipeError(f"{path}: row {i + 1 + (header is not None)} has {len(row)} columns, "
                                f"the first has {width}")
        cells = [c for j, c in enumerate(row) if j != label_col]
        try:
            values[i] = [float(c) for c in cells]
        except ValueError:
            raise TinypipeError(f"{path}: row {i + 1 + (header is not None)} holds a value that is not a "
                                "number", "input columns must be numbers") from None
        if labels is not None and label_col is not None:
            labels.append(row[label_col].strip())
    return values, labels


def _labels_from_strings(labels: list[str], class_names: list[str],
                         where: Path) -> tuple[np.ndarray, list[str]]:
    try:
        arr = np.array([float(v) for v in labels])
        return (arr.astype(np.int64) if np.all(np.mod(arr, 1) == 0) else arr.astype(np.float32)), class_names
    except ValueError:
        return _label_indices(labels, class_names, where)


# --- loading ----------------------------------------------------------------------------------


def load_test(path: str | Path, spec: InputSpec, preprocess: str | Path | None = None,
              info: Mapping[str, Any] | None = None, limit: int | None = None) -> TestData:
    """Read DATA (see the module docstring) into the model's inputs for `spec`.

    `info` is train.json's content beside the model (recipe, task, class_names); `limit` keeps
    the first samples only.
    """
    path = check_source(path)
    info = dict(info or {})
    hook = load_hook(preprocess)
    class_names = [str(c) for c in info.get("class_names") or []]
    recipe = info.get("recipe")
    size = int(np.prod(spec.shape[1:]))
    hook_text = f"hook {preprocess}" if hook is not None else ""
    notes: list[str] = []
    samples: list[np.ndarray]
    y: np.ndarray | None = None
    if path.suffix.lower() == ".npz":
        kind = "npz"
        x, y = _read_npz(path)
        if limit is not None:
            x, y = x[:limit], None if y is None else y[:limit]
        if hook is not None:
            samples = [_call_hook(hook, x[i], f"{path} row {i}") for i in range(len(x))]
        else:
            x, note = _channels_last(x, spec.shape, path)
            notes += [note] if note else []
            samples = list(x)
        how = hook_text or "none (x as given)"
    elif path.suffix.lower() == ".csv":
        kind = "csv"
        values, labels = _read_csv(path, size if hook is None else _hook_csv_width(path, size))
        if labels is not None:
            y, class_names = _labels_from_strings(labels, class_names, path)
        if limit is not None:
            values, y = values[:limit], None if y is None else y[:limit]
        samples = ([_call_hook(hook, values[i], f"{path} row {i + 1}") for i in range(len(values))]
                   if hook is not None else [v.reshape(spec.shape[1:]) for v in values])
        how = hook_text or "none (CSV values as given)"
    else:
        images, _ = _labelled_files(path, IMAGE_SUFFIXES)
        wavs, _ = _labelled_files(path, WAV_SUFFIXES)
        if images and wavs:
            raise TinypipeError(f"{path}: holds both images and WAV files",
                                "keep one kind of data per folder")
        if not images and not wavs:
            raise TinypipeError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) or WAV files in it or in "
                                "its subfolders", f"--test takes {', '.join(FORMATS)}")
        kind = "images" if images else "wav"
        files, names = _labelled_files(path, IMAGE_SUFFIXES if images else WAV_SUFFIXES)
        if limit is not None:
            files, names = files[:limit], None if names is None else names[:limit]
        if names is not None:
            y, class_names = _label_indices(names, class_names, path)
        samples = []
        if kind == "images":
            how = hook_text or "grey/RGB, bilinear resize to the input, scaled to [0, 1]"
            for f in files:
                img = _read_image(f)
                samples.append(_call_hook(hook, img, str(f)) if hook is not None
                               else image_to_input(img, spec.shape))
        else:
            if hook is None and recipe != "kws":
                raise TinypipeError(f"{path}: WAV files need preprocessing into the input {spec.shape}",
                                    "pass --preprocess HOOK.py defining preprocess(x, rate), or use a "
                                    "model trained by the kws recipe (train.json beside it)")
            how = hook_text or "kws recipe: 16 kHz, 1 s, 49x10 MFCCs"
            for f in files:
                audio, rate = _read_wav(f)
                samples.append(_call_hook(hook, audio, str(f), rate) if hook is not None
                               else kws_features(audio, rate))
    if not samples:
        raise TinypipeError(f"{path}: holds no samples", "add at least one")
    x_raw = _stack(samples, spec, path, hook is not None)
    data = TestData(path, kind, np.empty(0), y, how, spec=spec, class_names=class_names,
                    task=info.get("task"), notes=notes)
    if x_raw.dtype.kind in "iu":
        if not spec.quantized:
            data.x = x_raw.astype(np.float32)
        else:
            info_t = np.iinfo(spec.dtype)
            if x_raw.min() < info_t.min or x_raw.max() > info_t.max:
                raise TinypipeError(f"{path}: integer inputs hold {x_raw.min()}..{x_raw.max()}, outside "
                                    f"{spec.dtype}'s {info_t.min}..{info_t.max}",
                                    f"save {spec.dtype} values (already quantized) or float values")
            data.xq = x_raw.astype(spec.dtype)
            data.x = spec.dequantize(data.xq)
            data.notes.append(f"x is integer: taken as already quantized {spec.dtype}")
    else:
        data.x = x_raw.astype(np.float32)
    if y is not None and len(y) != len(data.x):
        raise TinypipeError(f"{path}: 'y' has {len(y)} entries for {len(data.x)} inputs",
                            "y holds one label per sample")
    return data


def _hook_csv_width(path: Path, size: int) -> int:
    """With a hook, a CSV row need not hold the input's values: take every column but the label."""
    with path.open(newline="") as f:
        first = next(csv.reader(f), [])
    header = [c.strip().lower() for c in first]
    has_label = any(n in header for n in LABEL_COLUMNS)
    return max(len(first) - has_label, 1)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception:
        raise TinypipeError(f"{path}: not a NumPy .npz archive",
                            "save it with np.savez(path, x=..., y=...)") from None
    if "x" not in arrays:
        raise TinypipeError(f"{path}: test set has arrays {sorted(arrays)}, needs 'x'",
                            "save it with np.savez(path, x=inputs, y=labels)")
    x, y = arrays["x"], arrays.get("y")
    if x.dtype.kind not in "fiub" or x.size == 0 or (x.dtype.kind == "f" and not np.all(np.isfinite(x))):
        raise TinypipeError(f"{path}: test array 'x' must be finite numbers, got {x.dtype} {x.shape}")
    if y is not None and (y.dtype.kind not in "fiubU" or len(y) != len(x)):
        raise TinypipeError(
            f"{path}: test array 'y' has {len(y)} {y.dtype} entries for {len(x)} inputs",
            "y holds one numeric label (class index, value, or 0/1 anomaly flag) per row of x")
    if y is not None and y.dtype.kind == "U":
        y, _ = _label_indices([str(v) for v in y], [], path)
    return (x.astype(np.float32) if x.dtype.kind == "b" else x), y


def _channels_last(x: np.ndarray, shape: tuple[int, ...], path: Path) -> tuple[np.ndarray, str]:
    want = tuple(shape[1:])
    if len(want) == 3 and x.ndim == 4 and tuple(x.shape[1:]) != want and tuple(x.shape[1:]) == (
            want[2], want[0], want[1]):
        note = f"x is channels-first {tuple(x.shape)}: transposed to (N, H, W, C)"
        return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1))), note
    return x, ""


def _stack(samples: list[np.ndarray], spec: InputSpec, path: Path, hooked: bool) -> np.ndarray:
    want = tuple(spec.shape[1:])
    size = int(np.prod(want))
    first = samples[0]
    for i, s in enumerate(samples):
        if s.size != size:
            source = "preprocess() returned" if hooked else "the data holds"
            raise TinypipeError(f"{path}: {source} shape {tuple(s.shape)} for sample {i}, the model input is "
                                f"{spec.shape}; expected {want}",
                                "make every sample the model's input shape (without the batch axis)")
        if s.dtype.kind not in "fiub" or (s.dtype.kind == "f" and not np.all(np.isfinite(s))):
            raise TinypipeError(f"{path}: sample {i} holds {s.dtype} values that are not finite numbers")
        if (s.dtype.kind in "iu") != (first.dtype.kind in "iu"):
            raise TinypipeError(f"{path}: samples mix integer and float values", "return one kind")
    return np.stack([s.reshape(want) for s in samples])


def load_for_model(path: str | Path, model: str | Path, preprocess: str | Path | None = None,
                   float_model: str | Path | None = None, limit: int | None = None) -> TestData:
    """Test data for a .tflite model: its first input's spec, train.json beside the model or the
    float model."""
    from tinypipe.reference import Reference

    ref = Reference(model)
    if len(ref.input_details) != 1:
        raise TinypipeError(f"{model}: takes {len(ref.input_details)} inputs; --test supports one",
                            "pass the inputs with --inputs and compare outputs instead")
    return load_test(path, InputSpec.from_detail(ref.input_details[0]), preprocess,
                     train_info(model, float_model), limit)
