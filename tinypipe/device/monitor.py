"""Read a board's benchmark records (`TP BOOT`, `TP RUN`, `TP RESULT`, `TP LAYER`) into data.

`monitor()` opens a port, collects records until the harness says `TP READY` (its results
are complete and it now serves validation frames) or `TP DONE`, and optionally writes them as
JSON. A timeout, a vanished port, a board-side error, a session that ends without a `TP RESULT`
or a record with impossible values ends the session with a TinypipeError (`MonitorError`,
carrying the partial result), and the JSON is written before it is raised: a half-finished
benchmark is still worth keeping. Noise lines are skipped and counted.

A session is bounded whatever the board sends: in time (host monotonic clock, both the silence
between records and the whole session) and in memory (lines are at most MAX_LINE_BYTES, and at
most MAX_RUNS / MAX_LAYERS records are kept; more are counted in `dropped_records`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinypipe.device.protocol import Device, ReadTimeout, Record, check_timeout
from tinypipe.errors import TinypipeError

DEFAULT_TIMEOUT_S = 60.0  # the `tinypipe monitor` session; read_results: the longest silence
SESSION_TIMEOUT_FACTOR = 10  # read_results: the whole session, in silences, unless given
MAX_RUNS = 10_000  # `TP RUN` records kept (the harness prints TP_BENCH_RUNS of them)
MAX_LAYERS = 10_000  # `TP LAYER` records kept
MAX_U64 = 2**64 - 1  # the firmware prints unsigned 64-bit figures
MAX_U32 = 2**32 - 1
IMPOSSIBLE_HINT = ("the board sent figures no tinypipe firmware produces: the serial link corrupts "
                   "records or the board runs other firmware; re-export, re-flash and check the baud rate")


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
    stack: int | None = None  # stack high-water mark in bytes, when the board measures it (`stack=`)


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
    dropped_records: int = 0  # RUN / LAYER records beyond MAX_RUNS / MAX_LAYERS, not kept

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
    """The dataclass fields of `cls` from a record, integers converted; a field with a default
    (e.g. RESULT's `stack`) may be absent."""
    fields = cls.__dataclass_fields__
    types = {name: "int" if f.type in ("int", "int | None") else f.type for name, f in fields.items()
             if name in record.fields or f.default is dataclasses.MISSING}
    missing = [name for name in types if name not in record.fields]
    if missing:
        raise TinypipeError(
            f"record `TP {record.kind}` lacks {', '.join(missing)}",
            "the firmware and this tinypipe version disagree; re-export and re-flash",
        )
    return {name: record.int(name) if kind == "int" else record.fields[name] for name, kind in types.items()}


def _impossible(record: Record, why: str) -> TinypipeError:
    return TinypipeError(f"record `TP {record.kind}` is impossible: {why}", IMPOSSIBLE_HINT)


def _check_range(record: Record, values: dict[str, Any], names: str, low: int, high: int = MAX_U64) -> None:
    for name in names.split():
        if not low <= values[name] <= high:
            raise _impossible(record, f"{name}={values[name]} is outside {low}..{high}")


def _checked(record: Record, cls: type, state: MonitorResult) -> dict[str, Any]:
    """The fields of `cls` from `record`, with values no harness can print rejected."""
    values = _fields(record, cls)
    if cls is BootInfo:
        _check_range(record, values, "arena", 0)
        _check_range(record, values, "input_bytes output_bytes tick_hz units_per_tick", 1)
        empty = [name for name in ("board", "runtime", "model", "timer", "unit") if not values[name]]
        if empty:
            raise _impossible(record, f"{', '.join(empty)} empty")
    elif cls is BenchResult:
        _check_range(record, values, "runs", 1)
        _check_range(record, values, "median min max", 0)
        _check_range(record, values, "checksum", 0, MAX_U32)
        if values.get("stack") is not None:
            _check_range(record, values, "stack", 1, MAX_U32)
        if not values["min"] <= values["median"] <= values["max"]:
            raise _impossible(record, f"median {values['median']} is outside min..max "
                                      f"({values['min']}..{values['max']})")
        if state.boot is not None and values["unit"] != state.boot.unit:
            raise _impossible(record, f"unit {values['unit']!r}, but `TP BOOT` said {state.boot.unit!r}")
    else:  # Run, Layer
        _check_range(record, values, "i ticks units", 0)
    return values


def _keep(state: MonitorResult, records: list[Any], record: Any, limit: int) -> None:
    """Append a RUN or LAYER record, or count it as dropped once `limit` are kept (bounded memory)."""
    if len(records) < limit:
        records.append(record)
    else:
        state.dropped_records += 1


def apply_record(state: MonitorResult, record: Record) -> None:
    """Fold one record into `state`; a new BOOT starts over (the board was reset).

    Impossible values (a negative arena, no runs, a median outside min..max, ...) raise.
    """
    if record.kind == "BOOT":
        boot = BootInfo(**_checked(record, BootInfo, state))
        port = state.port
        state.__dict__.update(MonitorResult(port=port).__dict__)
        state.boot = boot
    elif record.kind == "RUN":
        _keep(state, state.runs, Run(**_checked(record, Run, state)), MAX_RUNS)
    elif record.kind == "RESULT":
        state.result = BenchResult(**_checked(record, BenchResult, state))
    elif record.kind == "LAYER":
        _keep(state, state.layers, Layer(**_checked(record, Layer, state)), MAX_LAYERS)
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


def _ended_without_result(state: MonitorResult) -> TinypipeError:
    said = "TP READY" if state.ready else f"TP DONE reason={state.done}"
    return TinypipeError(
        f"{state.port}: the board said `{said}` without a `TP RESULT`: the benchmark is incomplete",
        "the harness did not finish its timed runs, or the line lost the record; reset the board "
        "(or re-run) and watch for `TP ERROR` records",
    )


def read_results(device: Device, timeout_s: float = DEFAULT_TIMEOUT_S,
                 session_timeout_s: float | None = None) -> MonitorResult:
    """Collect records from an open device until `TP READY` or `TP DONE`, with a `TP RESULT`.

    `timeout_s` bounds the silence between two records and `session_timeout_s` (default
    SESSION_TIMEOUT_FACTOR silences) the whole session, both in host monotonic time, however
    many records keep arriving. Raises MonitorError (with the partial result) on timeout, a lost
    port, a board error, an impossible record or a session that ends without a result.
    """
    timeout_s = check_timeout(timeout_s)
    session_s = check_timeout(SESSION_TIMEOUT_FACTOR * timeout_s if session_timeout_s is None
                              else session_timeout_s, "the session timeout")
    session_end = time.monotonic() + session_s
    state = MonitorResult(port=device.port)

    def session_over() -> TinypipeError:
        return TinypipeError(
            f"{device.port}: no complete results within {session_s:g} s (host wall clock)",
            "the board kept sending without `TP READY`/`TP DONE` (other firmware, a reset loop, or "
            "noise), or its benchmark takes longer: raise --timeout",
        )

    last_record = time.monotonic()
    try:
        while not (state.ready or state.done is not None):
            left = session_end - time.monotonic()
            if left <= 0:
                raise session_over()
            try:
                record = device.read_record(min(timeout_s, left))
            except ReadTimeout:
                # Records were still coming when the session ran out: say so, not "silence".
                if time.monotonic() - last_record < timeout_s / 2:
                    raise session_over() from None
                raise
            last_record = time.monotonic()
            apply_record(state, record)
            state.skipped_lines = device.skipped_lines
        if state.result is None:
            raise _ended_without_result(state)
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
    """Open `port`, read the benchmark records, write them to `json_out` (even if partial).

    `timeout_s` bounds the whole session (host wall clock), not just the silence between records.
    """
    timeout_s = check_timeout(timeout_s, "--timeout")
    with Device(port, baud, timeout_s) as device:
        try:
            result = read_results(device, timeout_s, session_timeout_s=timeout_s)
        except MonitorError as exc:
            if json_out is not None:
                write_json(exc.partial, json_out)
            raise
    if json_out is not None:
        write_json(result, json_out)
    return result
