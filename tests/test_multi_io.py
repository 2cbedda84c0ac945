"""Models with several inputs and outputs, and uint8 outputs, through export, the harness, the
serial protocol (INFO, INFER) and validation: bit-exact with LiteRT on the host and on qemu-m4."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinypipe import graph
from tinypipe.validate import validate

SAMPLES = 6


def two_in_two_out(path: Path, output_type: str) -> Path:
    """A Keras model of a (6, 6, 1) image and an (8,) vector -> 3 class scores and 2 values, full
    int8 with int8 inputs and `output_type` outputs."""
    import keras
    import tensorflow as tf

    from tinypipe.train import quiet_native

    keras.utils.set_random_seed(3)
    image = keras.Input((6, 6, 1), batch_size=1, name="image")
    vector = keras.Input((8,), batch_size=1, name="vector")
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.Flatten()(x)
    v = keras.layers.Dense(6, activation="relu")(vector)
    joint = keras.layers.Concatenate()([x, v])
    scores = keras.layers.Dense(3, activation="softmax", name="scores")(joint)
    values = keras.layers.Dense(2, name="values")(v)
    model = keras.Model([image, vector], [scores, values])
    rng = np.random.default_rng(0)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ({"image": rng.random((1, 6, 6, 1), np.float32),
                                                  "vector": rng.standard_normal((1, 8)).astype(np.float32)}
                                                 for _ in range(50))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = getattr(tf, output_type)
    with quiet_native():
        path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("multi_io")
    return {t: two_in_two_out(work / f"two_in_two_out_{t}.tflite", t) for t in ("int8", "uint8")}


def io_types(model: Path) -> tuple[list[str], list[str]]:
    g = graph.load(model)
    return [g.tensor(i).dtype for i in g.inputs], [g.tensor(i).dtype for i in g.outputs]


@pytest.mark.parametrize("output_type", ["int8", "uint8"])
def test_two_inputs_two_outputs_on_the_host(models: dict[str, Path], output_type: str,
                                            tmp_path: Path) -> None:
    assert io_types(models[output_type]) == (["int8", "int8"], [output_type, output_type])
    result = validate(models[output_type], board="host", samples=50, work_dir=tmp_path)
    assert len(result.outputs) == 2
    assert result.bit_exact == result.samples == 50, result.summary()


def test_several_inputs_from_an_npz_by_name(models: dict[str, Path], tmp_path: Path) -> None:
    """`tinypipe validate --inputs` with one array per input, matched by the inputs' names."""
    from tinypipe.reference import Reference

    details = Reference(models["int8"]).input_details
    rng = np.random.default_rng(5)
    arrays: dict[str, Any] = {d["name"]: rng.integers(-128, 128, (4, *d["shape"][1:]), dtype=np.int8)
                              for d in reversed(details)}  # saved in the other order: names decide
    data = tmp_path / "inputs.npz"
    np.savez(data, **arrays)
    result = validate(models["int8"], board="host", inputs=data, work_dir=tmp_path / "v")
    assert result.bit_exact == result.samples == 4, result.summary()


@pytest.mark.qemu
@pytest.mark.parametrize("output_type", ["int8", "uint8"])
def test_two_inputs_two_outputs_on_qemu_m4(models: dict[str, Path], output_type: str, tmp_path: Path) -> None:
    """Export + PlatformIO build + QEMU: INFO reports both inputs and outputs, each INFER carries
    both inputs and returns both outputs (uint8 ones as their raw bytes)."""
    result = validate(models[output_type], board="qemu-m4", samples=SAMPLES, work_dir=tmp_path)
    assert len(result.outputs) == 2
    assert result.bit_exact == result.samples == SAMPLES, result.summary()
