"""Read a board's benchmark records (`TP BOOT`, `TP RUN`, `TP RESULT`, `TP LAYER`) into data.

`monitor()` opens a port, collects records until the harness says `TP READY` (its results
are complete and it now serves validation frames) or `TP DONE`, and optionally writes them as
JSON. A timeout, a vanished port or a board-side error ends the session with a TinypipeError
(`MonitorError`, carrying the partial result), and the JSON is written before it is raised:
a half-finished benchmark is still worth keeping. Noise lines are skipped and counted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinypipe.device.protocol import Device, Record
from tinypipe.errors import TinypipeError

DEFAULT_TIMEOUT_S = 60.0  # longest silence between two records


@dataclass
class BootInfo:
    board: str
    runtime: str
    model: str  # first 8 hex digits of the model's sha256
    arena: int
    input_bytes: int
    output_bytes: int
    timer: str
    unit: str  # "cycles" on real cores, "instructions" under QEMU
    tick_hz: int
    units_per_tick: int


@dataclass
class Run:
    i: int
    ticks: int
    units: int


@dataclass
class BenchResult:
    runs: int
    median: int  # in `unit`
    min: int
    max: int
    unit: str
    checksum: int  # CRC-32 of the outputs for protocol.bench_input()


@dataclass
class Layer:
    i: int
    name: str
    ticks: int
    units: int


@dataclass
class MonitorResult:
    port: str
    boot: BootInfo | None = None
    runs: list[Run] = field(default_factory=list)
    result: BenchResult | None = None
    layers: list[Layer] = field(default_factory=list)
    ready: bool = False  # the board now serves validation frames
    done: str | None = None  # `TP DONE reason=`
    error: str | None = None  # why the session ended early
    skipped_lines: int = 0

    @property
    def complete(self) -> bool:
        return self.result is not None and (self.ready or self.done is not None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["complete"] = self.complete
        if self.result is not None:
            data["result"]["checksum"] = f"0x{self.result.checksum:08x}"
        return data


class MonitorError(TinypipeError):
    """The session ended before the results were complete; `partial` holds what arrived."""

    def __init__(self, what: str, hint: str, partial: MonitorResult) -> None:
        super().__init__(what, hint)
        self.partial = partial


def _fields(record: Record, cls: type) -> dict[str, Any]:
    """The dataclass fields of `cls` from a record, integers converted."""
    types = {name: f.type for name, f in cls.__dataclass_fields__.items()}
    missing = [name for name in types if name not in record.fields]
    if missing:
        raise TinypipeError(
            f"record `TP {record.kind}` lacks {', '.join(missing)}",
            "the firmware and this tinypipe version disagree; re-export and re-flash",
        )
    return {name: record.int(name) if kind == "int" else record.fields[name] for name, kind in types.items()}


def apply_record(state: MonitorResult, record: Record) -> None:
    """Fold one record into `state`; a new BOOT starts over (the board was reset)."""
    if record.kind == "BOOT":
        port = state.port
        state.__dict__.update(MonitorResult(port=port).__dict__)
        state.boot = BootInfo(**_fields(record, BootInfo))
    elif record.kind == "RUN":
        state.runs.append(Run(**_fields(record, Run)))
    elif record.kind == "RESULT":
        state.result = BenchResult(**_fields(record, BenchResult))
    elif record.kind == "LAYER":
        state.layers.append(Layer(**_fields(record, Layer)))
    elif record.kind == "READY":
        state.ready = True
    elif record.kind == "DONE":
        state.done = record.fields.get("reason", "")
    elif record.kind == "ERROR":
        raise TinypipeError(
            f"{state.port}: the board failed at stage {record.fields.get('stage', '?')!r}",
            "the runtime could not initialise or run the model; check the arena size and "
            "that the firmware was built for this model",
        )


def read_results(device: Device, timeout_s: float = DEFAULT_TIMEOUT_S) -> MonitorResult:
    """Collect records from an open device until `TP READY` or `TP DONE`.

    Raises MonitorError (with the partial result) on timeout, a lost port or a board error.
    """
    state = MonitorResult(port=device.port)
    try:
        while not (state.ready or state.done is not None):
            apply_record(state, device.read_record(timeout_s))
            state.skipped_lines = device.skipped_lines
    except TinypipeError as exc:
        state.skipped_lines = device.skipped_lines
        state.error = exc.what
        got = "no records" if state.boot is None else f"{len(state.runs)} runs"
        raise MonitorError(f"{exc.what} (after {got})", exc.hint, state) from None
    return state


def write_json(result: MonitorResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n")


def monitor(
    port: str,
    baud: int = 115200,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    json_out: Path | None = None,
) -> MonitorResult:
    """Open `port`, read the benchmark records, write them to `json_out` (even if partial)."""
    with Device(port, baud, timeout_s) as device:
        try:
            result = read_results(device, timeout_s)
        except MonitorError as exc:
            if json_out is not None:
                write_json(exc.partial, json_out)
            raise
    if json_out is not None:
        write_json(result, json_out)
    return result
