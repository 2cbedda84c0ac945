"""`streaming_kws`: a streaming keyword spotter whose state lives in the model (resource variables).

Always-on wake-word detectors do not see a whole one-second window per inference: each inference
gets one new feature frame, and the model keeps the last frames itself, in a ring buffer that
persists between invocations. In TensorFlow that buffer is a `tf.Variable`; the TFLite converter
(`_experimental_enable_resource_variables`, `_experimental_variable_quantization`) turns it into
VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE operators plus an init subgraph run once by
CALL_ONCE, exactly what TensorFlow Lite Micro runs for streaming models, and what the aot runtime
compiles into a persistent arena buffer with `<prefix>_reset()`.

Data (synthetic, offline, seconds): 10-coefficient "MFCC" frames of background noise in which a
keyword, a fixed per-class pattern of `KEYWORD_FRAMES` frames at a random gain, sometimes occurs.
Classes: `background` and `KEYWORDS`. The non-streaming model is trained on windows of `WINDOW`
frames (label: the keyword whose last frame is the window's last frame, else background); the
streaming model runs the same layers on its ring buffer plus the new frame, one frame per
inference, so its step-t output equals the window model's output on frames t-WINDOW+1..t.

The model is full int8 with an int8 input frame and a uint8 output (the converter's
`inference_output_type=tf.uint8`: a final QUANTIZE int8 -> uint8), as MCU audio pipelines use.

    from tinypipe.recipes.streaming_kws import build
    result = build(out_dir)            # out_dir/model.tflite, out_dir/stream.npz, out_dir/train.json
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

FEATURES = 10  # coefficients per frame
WINDOW = 8  # frames the model sees (its ring buffer holds WINDOW - 1 of them)
KEYWORD_FRAMES = 5
KEYWORDS = ["yes", "no", "stop"]
CLASSES = ["background", *KEYWORDS]
FILTERS = 8
EPOCHS = 12
TRAIN_WINDOWS = 3000
TEST_WINDOWS = 600
CALIBRATION_FRAMES = 400
STREAM_FRAMES = 64  # the sequence written to stream.npz for validation


@dataclass
class StreamingResult:
    model: Path  # the int8 streaming .tflite
    stream: Path  # x: (STREAM_FRAMES, 1, 1, FEATURES) float frames in order, y: the label per step
    info: Path
    float_accuracy: float  # the window model on held-out windows
    classes: list[str]
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


def keyword_patterns(seed: int) -> np.ndarray:
    """(len(KEYWORDS), KEYWORD_FRAMES, FEATURES): each keyword's frames, fixed by the seed."""
    rng = np.random.default_rng(seed + 1)
    return rng.normal(0.0, 1.5, (len(KEYWORDS), KEYWORD_FRAMES, FEATURES)).astype(np.float32)


def stream(n_frames: int, rng: np.random.Generator, patterns: np.ndarray,
           keyword_rate: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(frames (n, FEATURES), label per frame): noise with keywords spread through it; a frame's label
    is the keyword ending on it (0 = background)."""
    frames = rng.normal(0.0, 0.6, (n_frames, FEATURES)).astype(np.float32)
    labels = np.zeros(n_frames, np.int64)
    t = int(rng.integers(0, KEYWORD_FRAMES))
    while t + KEYWORD_FRAMES <= n_frames:
        if rng.random() < keyword_rate:
            k = int(rng.integers(len(KEYWORDS)))
            frames[t:t + KEYWORD_FRAMES] += patterns[k] * np.float32(rng.uniform(0.7, 1.3))
            labels[t + KEYWORD_FRAMES - 1] = k + 1
            t += KEYWORD_FRAMES
        t += int(rng.integers(1, WINDOW))
    return frames, labels


def windows(frames: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every WINDOW-frame window ending at frame t >= WINDOW-1, labelled with frame t's label."""
    idx = np.arange(WINDOW - 1, len(frames))
    x = np.stack([frames[t - WINDOW + 1:t + 1] for t in idx])
    return x[:, :, None, :], labels[idx]  # (n, WINDOW, 1, FEATURES): a 1-wide "image" of frames


def window_model() -> Any:
    """The classifier over one window: a temporal convolution, then a dense layer."""
    import keras

    inputs = keras.Input((WINDOW, 1, FEATURES))
    x = keras.layers.Conv2D(FILTERS, (3, 1), activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax")(x)
    return keras.Model(inputs, outputs)


def streaming_module(trained: Any) -> Any:
    """A tf.Module running the layers of `trained` on a ring buffer of the last WINDOW-1 frames (a
    tf.Variable) plus one new frame per call: the buffer is the model's state between invocations.
    The weights become constants (Keras' own variables would be resource variables too)."""
    import tensorflow as tf

    kernel, bias, dense_w, dense_b = (tf.constant(w) for w in trained.get_weights())

    class Streaming(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ring = tf.Variable(tf.zeros((1, WINDOW - 1, 1, FEATURES)), trainable=False, name="ring")

        @tf.function(input_signature=[tf.TensorSpec((1, 1, 1, FEATURES), tf.float32, name="frame")])
        def __call__(self, frame: Any) -> Any:
            window = tf.concat([self.ring, frame], axis=1)
            self.ring.assign(window[:, 1:])
            x = tf.nn.relu(tf.nn.conv2d(window, kernel, strides=1, padding="VALID") + bias)
            x = tf.reshape(x, (1, -1))
            return tf.nn.softmax(tf.matmul(x, dense_w) + dense_b)

    return Streaming()


def convert(module: Any, calibration: np.ndarray) -> bytes:
    """Full int8 with the ring buffer quantized too; int8 frames in, uint8 scores out."""
    import tensorflow as tf

    from tinypipe.train import quiet_native

    concrete = module.__call__.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], module)
    converter._experimental_enable_resource_variables = True
    converter._experimental_variable_quantization = True
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.uint8

    def representative() -> Any:  # consecutive frames, so the buffer's range is calibrated too
        for frame in calibration:
            yield [frame.reshape(1, 1, 1, FEATURES).astype(np.float32)]

    converter.representative_dataset = representative
    with quiet_native():
        model: bytes = converter.convert()
    return model


def build(out: str | Path, seed: int = 0, epochs: int = EPOCHS) -> StreamingResult:
    """Train the window model, wrap it as a streaming model and convert it; see the module docstring."""
    import time

    from tinypipe.train import import_tensorflow

    start = time.monotonic()
    import_tensorflow()
    import keras
    import tensorflow as tf

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(seed)
    patterns = keyword_patterns(seed)
    x_train, y_train = windows(*stream(TRAIN_WINDOWS + WINDOW, rng, patterns))
    x_test, y_test = windows(*stream(TEST_WINDOWS + WINDOW, rng, patterns))
    model = window_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, shuffle=True, verbose=0)
    accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))

    calibration, _ = stream(CALIBRATION_FRAMES, rng, patterns)
    tflite = convert(streaming_module(model), calibration)
    frames, labels = stream(STREAM_FRAMES, rng, patterns)
    result = StreamingResult(model=out / "model.tflite", stream=out / "stream.npz", info=out / "train.json",
                             float_accuracy=accuracy, classes=list(CLASSES))
    result.model.write_bytes(tflite)
    np.savez_compressed(result.stream, x=frames.reshape(-1, 1, 1, FEATURES), y=labels)
    result.seconds = round(time.monotonic() - start, 1)
    result.info.write_text(json.dumps({"recipe": "streaming_kws", "task": "classification",
                                       "class_names": list(CLASSES), **result.to_json()}, indent=2) + "\n")
    return result
