"""The device layer's entry: start firmware on a board (QEMU or a real port) and talk to it.

`run_on_target()` reads the firmware's benchmark records, then sends inputs through the
validation protocol; `board_device()` is the `tinypipe validate --board B` device built on it.
Used by bench, validate and compare alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinypipe.boards import Board, load_board
from tinypipe.errors import TinypipeError

DEFAULT_TIMEOUT_S = 300.0
INFER_TIMEOUT_S = 120.0
EMULATOR_BACKSTOP_S = 900.0
Run = Callable[[list[np.ndarray]], list[np.ndarray]]  # inputs stacked on axis 0 -> outputs


@dataclass
class TargetRun:
    """What came back from the firmware: its records, and the outputs of each sent input."""

    monitor: Any  # tinypipe.device.monitor.MonitorResult
    outputs: list[np.ndarray] = field(default_factory=list)  # per model output, stacked on axis 0
    ticks: list[int] = field(default_factory=list)
    exit_code: int | None = None


@contextlib.contextmanager
def _device(project: Path, board: Board, port: str | None, timeout_s: float) -> Iterator[Any]:
    """An open protocol.Device on the firmware: QEMU started through `pio run -t upload` for
    emulated boards, `pio run -t upload` then the serial port for real ones."""
    from tinypipe.build import emulate, flash
    from tinypipe.device.protocol import Device

    if board.emulated:
        # timeout_s bounds the silence between records; QEMU's own watchdog is only a backstop.
        with emulate(project, timeout_s=max(10 * timeout_s, EMULATOR_BACKSTOP_S)) as session:
            device = Device(session.url, board.serial.baud, open_timeout_s=10)
            try:
                yield device
            finally:
                device.close()
            code = session.wait(timeout_s=30)
            if code != 0:
                what = f"faulted ({device.fault})" if device.fault else f"exited with code {code}"
                raise TinypipeError(f"{board.id}: the firmware {what}",
                                    "run `tinypipe emulate` on the project to see its output")
        return
    if not port:
        raise TinypipeError(f"{board.id} is a real board: the serial port is needed",
                            "pass --port, e.g. --port /dev/ttyACM0")
    flash(project, port)
    device = Device(port, board.serial.baud, open_timeout_s=5)
    try:
        yield device
    finally:
        device.close()


def run_on_target(project: Path, board: Board, inputs: list[np.ndarray] | None = None,
                  port: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> TargetRun:
    """Start the firmware, read its benchmark records, then send each input (stacked on axis 0)
    through the validation protocol and collect the outputs (raw bytes per output, flat int8: the
    caller views them as the model's types). The model's state is reset first and the inputs
    go in order, so a stateful (streaming) model sees them as one sequence."""
    from tinypipe import progress
    from tinypipe.device.monitor import read_results

    with _device(project, board, port, timeout_s) as device:
        run = TargetRun(read_results(device, timeout_s))
        if inputs is not None and len(inputs[0]):
            device.reset()  # a stateful model's samples are one sequence from the initial state
            per_output: list[list[np.ndarray]] = []
            for k in range(len(inputs[0])):
                outs, ticks = device.infer([x[k] for x in inputs], timeout_s=INFER_TIMEOUT_S)
                per_output = per_output or [[] for _ in outs]
                for acc, o in zip(per_output, outs, strict=True):
                    acc.append(o)
                run.ticks.append(ticks)
                progress.step("validate on the device", k + 1, len(inputs[0]))
            run.outputs = [np.stack(acc) for acc in per_output]
        device.bye()
    return run


def board_device(board_id: str, port: str | None = None, runtime: str = "aot",
                 tflm_dir: str | Path | None = None) -> Callable[[Path, Path], Run]:
    """A `tinypipe validate` device for a board: export + build, then run_on_target.

    A real board's serial port is checked here, before anything is built."""
    if not load_board(board_id).emulated:
        from tinypipe.build import check_serial_port

        check_serial_port(board_id, port, what="validate")

    def factory(model_path: Path, work_dir: Path, optimize: str) -> Run:
        from tinypipe.build import build
        from tinypipe.export import export

        board = load_board(board_id)
        project = export(model_path, board.id, work_dir / "firmware", runtime=runtime, runs=1,
                         tflm_dir=tflm_dir, optimize=optimize)
        build(project.dir)

        return lambda inputs: run_on_target(project.dir, board, inputs, port).outputs

    return factory


