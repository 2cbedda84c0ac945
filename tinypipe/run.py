"""Run stage: recipe -> trained model -> int8 -> firmware -> measured on the board, in one call.

The recipe's held-out test set is what the device is validated on, so the report shows the
float accuracy, the int8 accuracy on the host, the 16x8 (int16 activations) accuracy on the host,
and the accuracy of the outputs that came back from the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinypipe import bench as bench_mod
from tinypipe.aot.codegen import DEFAULT_OPTIMIZE, arena_allowance
from tinypipe.errors import TinypipeError

# Test samples sent through the serial protocol: the whole test set up to this many, so the
# float, host-int8 and device figures are measured on the same samples.
DEFAULT_DEVICE_SAMPLES = 1000


def run(recipe: str, board: str, out: str | Path, runtime: str = "auto", epochs: int | None = None,
        seed: int = 0, runs: int = 10, device_samples: int = DEFAULT_DEVICE_SAMPLES, profile: bool = False,
        port: str | None = None, echo: bench_mod.Echo | None = None,
        tflm_dir: str | Path | None = None, optimize: str = DEFAULT_OPTIMIZE) -> dict[str, Any]:
    from tinypipe.boards import load_board
    from tinypipe.graph import dequantize_values, quantize_values
    from tinypipe.quantize import host_metric, load_npz, quantize
    from tinypipe.recipes import score
    from tinypipe.train import train

    say = echo or (lambda _msg: None)
    out = Path(out)
    if runtime != "auto":  # fail before minutes of training (auto is decided on the trained model)
        load_board(board).require_runtime(runtime)
    if not load_board(board).emulated:  # and without a serial port for a real board
        from tinypipe.build import check_serial_port

        check_serial_port(board, port, what="run")
    if runtime == "tflm":
        from tinypipe.tflm.tree import find_tree

        find_tree(tflm_dir)
    arena_allowance(optimize)  # a wrong goal fails before minutes of training
    if device_samples < 1:
        raise TinypipeError(f"--samples {device_samples}: at least one test sample must run on the device")
    say(f"train {recipe}")
    trained = train(recipe, out / "train", epochs=epochs, seed=seed)
    say("quantize to int8")
    q = quantize(trained.model, trained.calib, out / "model.tflite", test=trained.test)
    int16_metric = None
    if q.task:  # 16x8 beside int8: one more conversion, evaluated on the host (LiteRT)
        say("quantize to 16x8 (int16 activations) for its host accuracy")
        int16_metric = host_metric(trained.model, trained.calib, trained.test, q.task,
                                   out / "model_16x8.tflite")
    x, y = load_npz(trained.test, "test", need_y=True)
    n = min(device_samples, len(x))
    x, y = x[:n], y[:n] if y is not None else None
    xq = quantize_values(x, q.input["scale"], q.input["zero_point"])
    result = bench_mod.bench(q.out, board, out / "bench", runtime=runtime, runs=runs, profile=profile,
                             port=port, inputs=[xq], echo=say, tflm_dir=tflm_dir,
                             optimize=optimize,
                             extra={"recipe": {"name": recipe, "seed": seed, "epochs": trained.epochs}})
    device = dequantize_values(result.pop("device_outputs")[0], q.output["scale"],
                               q.output["zero_point"])
    accuracy = {"metric": q.metric, "task": q.task, "float": q.float_metric, "int8_host": q.int8_metric,
                "int16_host": int16_metric,
                "device": score(q.task, x, y, device.reshape(n, *q.output["shape"][1:])) if q.task else None,
                "host_samples": q.test_samples, "device_samples": n}
    result["accuracy"] = accuracy
    result["report"] = str(bench_mod.write_results(result, out / "bench"))
    return result
