"""Flaky links: what a board (or something pretending to be one) sends, and how the host copes.

Fake boards are pure Python on a loopback TCP port, opened with pyserial's socket:// URL as an
emulator's serial port is: endless record streams, markup in fields, truncated replies,
impossible figures, rejected frames. The retry and mid-frame-stall tests also run the real
harness built for the host; the slow ones run real firmware under QEMU, the last of them while
two CPU-bound processes load the machine. No assertion depends on how fast anything runs:
subprocess timeouts are backstops against hangs only.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, mlperf_model
from tests.host_harness import HostBoard, build_stub
from tinypipe.device import monitor as monitor_mod
from tinypipe.device.monitor import MonitorError, monitor, read_results
from tinypipe.device.protocol import (
    READ_CHUNK_BYTES,
    Device,
    ErrorCode,
    Frame,
    FrameType,
    decode_frame,
    encode_frame,
)
from tinypipe.errors import TinypipeError

BACKSTOP_S = 300  # a hang fails the test instead of blocking the suite; never a speed check
LINK_TIMEOUT_S = 60  # how long a fake board waits for the host before it gives up
BOOT = (b"TP BOOT board=b runtime=aot model=0123abcd arena=10 input_bytes=4 output_bytes=4 "
        b"timer=systick unit=instructions tick_hz=25000000 units_per_tick=40\r\n")
RESULT = b"TP RESULT runs=2 median=220 min=200 max=240 unit=instructions checksum=0x0000abcd\r\n"
READY = b"TP READY protocol=1\r\n"
STUB_INPUTS = (8, 5)  # tests/host/stub_glue.c
STUB_OUTPUT = 4
DIGITS_MODEL = ROOT / "tests" / "data" / "digits_int8.tflite"


def run_record(i: int) -> bytes:
    return f"TP RUN i={i} ticks={5 + i % 2} units={200 + 40 * (i % 2)}\r\n".encode()


def stub_model(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What stub_glue.c computes: output k = int8 sum of input bytes at positions = k mod 4."""
    flat = np.concatenate([a, b]).astype(np.uint8)
    sums = [int(flat[k::STUB_OUTPUT].sum()) & 0xFF for k in range(STUB_OUTPUT)]
    return np.array(sums, np.uint8).view(np.int8)


Script = Callable[[socket.socket, threading.Event], None]


class FakeBoard:
    """A scripted "board" on 127.0.0.1: `script(conn, stop)` runs once the host connects.

    `stop` is set when the test is over, so a script that streams forever can end; a host that
    hangs up ends it too (the next send fails).
    """

    def __init__(self, script: Script) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(script,), daemon=True)
        self._thread.start()

    def _serve(self, script: Script) -> None:
        self.server.settimeout(LINK_TIMEOUT_S)
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(LINK_TIMEOUT_S)
            try:
                script(conn, self.stop)
                self.stop.wait(LINK_TIMEOUT_S)  # keep the line open until the test is done
            except OSError:
                pass  # the host hung up

    def __enter__(self) -> FakeBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.close()
        self._thread.join(LINK_TIMEOUT_S)


def sends(stream: bytes) -> Script:
    def script(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(stream)

    return script


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # no wrapping of what the test looks for
    return subprocess.run([sys.executable, "-m", "tinypipe.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=BACKSTOP_S)


def assert_one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert all(line.startswith("  hint: ") for line in lines[1:]), result.stderr


# --- the monitor: bounded in time and memory ------------------------------------------------------


def test_endless_valid_records_end_at_the_timeout(tmp_path: Path) -> None:
    """A board that never stops sending valid records: `--timeout` bounds the session anyway."""

    def endless(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(BOOT)
        block = b"".join(run_record(i) for i in range(1000))
        while not stop.is_set():
            conn.sendall(block)

    out = tmp_path / "partial.json"
    with FakeBoard(endless) as board:
        result = cli("monitor", "--port", board.url, "--timeout", "2", "--json", str(out))
    # Records keep coming, so this is the session's limit (on a machine so loaded that the stream
    # paused for a second, the silence's: either way the session ended).
    assert_one_line_error(result, "")
    assert re.search(r"no complete results within 2 s \(host wall clock\)|timed out waiting", result.stderr)
    saved = json.loads(out.read_text())
    assert saved["complete"] is False and saved["boot"]["board"] == "b"
    assert 0 < len(saved["runs"]) <= monitor_mod.MAX_RUNS


def test_records_kept_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_mod, "MAX_RUNS", 20)
    monkeypatch.setattr(monitor_mod, "MAX_LAYERS", 5)
    layers = b"".join(f"TP LAYER i={i} name=conv{i} ticks=1 units=40\r\n".encode() for i in range(30))
    stream = BOOT + b"".join(run_record(i) for i in range(100)) + RESULT + layers + READY
    with FakeBoard(sends(stream)) as board:
        result = monitor(board.url, timeout_s=30)
    assert result.complete
    assert [r.i for r in result.runs] == list(range(20)) and len(result.layers) == 5
    assert result.dropped_records == 80 + 25


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0"])
def test_unusable_timeouts_are_refused(value: str) -> None:
    assert_one_line_error(cli("monitor", "--port", "socket://127.0.0.1:9", f"--timeout={value}"),
                          f"--timeout must be a positive, finite number of seconds, got {float(value)!r}")


def test_unusable_timeouts_are_refused_by_the_api() -> None:
    with FakeBoard(sends(BOOT)) as board:
        with pytest.raises(TinypipeError, match="positive, finite"):
            Device(board.url, timeout_s=float("nan"))
        with Device(board.url, timeout_s=5) as device:
            for bad in (float("nan"), float("inf"), -1.0):
                with pytest.raises(TinypipeError, match="positive, finite"):
                    device.read_record(bad)
                with pytest.raises(TinypipeError, match="positive, finite"):
                    read_results(device, bad)
            assert device.read_record().kind == "BOOT"  # nothing was lost on the way


def test_reads_take_chunks_not_bytes() -> None:
    stream = BOOT + b"".join(run_record(i) for i in range(3000)) + RESULT + READY
    with FakeBoard(sends(stream)) as board, Device(board.url, timeout_s=30) as device:
        reads: list[int] = []
        real_read = device._serial.read

        def counting_read(size: int = 1) -> bytes:
            data = real_read(size)
            reads.append(len(data))
            return data

        device._serial.read = counting_read  # type: ignore[method-assign]
        result = read_results(device, 30)
    assert len(result.runs) == 3000 and sum(reads) == len(stream)
    assert max(reads) > READ_CHUNK_BYTES // 2
    assert len(reads) < len(stream) / 64, f"{len(reads)} reads for {len(stream)} bytes"


# --- the monitor: what it prints, and results that must not pass ---------------------------------


def test_device_text_is_printed_verbatim(tmp_path: Path) -> None:
    """Rich markup (and emoji codes) in record fields is shown as sent, never interpreted."""
    stream = (b"TP BOOT board=[bold]b[/bold] runtime=[/x] model=:smile: arena=10 input_bytes=4 "
              b"output_bytes=4 timer=[red] unit=[i] tick_hz=25000000 units_per_tick=40\r\n"
              + run_record(0) + run_record(1)
              + b"TP RESULT runs=2 median=220 min=200 max=240 unit=[i] checksum=0x0000abcd\r\n"
              + b"TP LAYER i=0 name=[/x][link=http://x] ticks=1 units=40\r\n" + READY)
    with FakeBoard(sends(stream)) as board:
        result = cli("monitor", "--port", board.url, "--timeout", "30", "--json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr
    assert "[bold]b[/bold]: runtime [/x], model :smile:, arena 10 B, timer [red] ([i])" in result.stdout
    assert "2 runs: median 220 [i] (min 200, max 240), checksum 0x0000abcd" in result.stdout
    assert "[/x][link=http://x]" in result.stdout


def test_control_characters_make_a_record_noise() -> None:
    """An escape sequence in a field would reach the terminal: such a line is noise, not a record."""
    stream = (b"TP BOOT board=\x1b[2J\x1b[31mred runtime=aot model=0123abcd arena=10 input_bytes=4 "
              b"output_bytes=4 timer=systick unit=instructions tick_hz=25000000 units_per_tick=40\r\n"
              + BOOT + run_record(0) + RESULT + READY)
    with FakeBoard(sends(stream)) as board:
        result = monitor(board.url, timeout_s=30)
    assert result.boot is not None and result.boot.board == "b" and result.skipped_lines == 1


def test_overlong_lines_are_noise() -> None:
    long_line = b"TP RUN i=9 ticks=1 units=40 " + b"x=y " * 400 + b"\r\n"  # longer than MAX_LINE_BYTES
    binary = b"\x00" * 5000 + b"TP RUN i=8 ticks=1 units=40\r\n"  # the tail of a line too long to keep
    stream = BOOT + long_line + binary + run_record(0) + RESULT + READY
    with FakeBoard(sends(stream)) as board:
        result = monitor(board.url, timeout_s=30)
    assert [r.i for r in result.runs] == [0] and result.skipped_lines == 2


@pytest.mark.parametrize(("tail", "message"), [
    (b"TP DONE reason=idle\r\n", "said `TP DONE reason=idle` without a `TP RESULT`"),
    (READY, "said `TP READY` without a `TP RESULT`"),
    (RESULT.replace(b"runs=2", b"runs=0") + READY, "runs=0 is outside 1.."),
    (RESULT.replace(b"runs=2", b"runs=-3") + READY, "runs=-3 is outside 1.."),
    (RESULT.replace(b"median=220", b"median=300") + READY, "median 300 is outside min..max (200..240)"),
    (RESULT.replace(b"min=200", b"min=-200") + READY, "min=-200 is outside 0.."),
    (RESULT.replace(b"0x0000abcd", b"0x1ffffffff") + READY, "checksum=8589934591 is outside 0..4294967295"),
    (RESULT.replace(b"unit=instructions", b"unit=cycles") + READY, "unit 'cycles', but `TP BOOT` said"),
    (b"TP RUN i=2 ticks=-1 units=40\r\n" + RESULT + READY, "ticks=-1 is outside 0.."),
    (b"TP LAYER i=0 name=conv ticks=1 units=-40\r\n" + READY, "units=-40 is outside 0.."),
])
def test_incomplete_or_impossible_results_fail(tail: bytes, message: str, tmp_path: Path) -> None:
    out = tmp_path / "partial.json"
    with FakeBoard(sends(BOOT + run_record(0) + run_record(1) + tail)) as board, \
            pytest.raises(MonitorError) as info:
        monitor(board.url, timeout_s=30, json_out=out)
    assert message in info.value.what
    assert json.loads(out.read_text())["complete"] is False


@pytest.mark.parametrize(("stream", "message"), [
    (BOOT.replace(b"arena=10", b"arena=-5") + RESULT + READY, "record `TP BOOT` is impossible: arena=-5"),
    (BOOT + run_record(0) + b"TP DONE reason=bye\r\n", "without a `TP RESULT`"),
])
def test_cli_exits_non_zero_on_bad_results(stream: bytes, message: str) -> None:
    with FakeBoard(sends(stream)) as board:
        assert_one_line_error(cli("monitor", "--port", board.url, "--timeout", "30"), message)


# --- frames: malformed replies and retries ---------------------------------------------------------


INFO_PAYLOAD = struct.pack("<IIII", 1, 1, 4, 4)  # one 4-byte input, one 4-byte output
TIMING = struct.pack("<QQ", 7, 280)


def error_frame(code: ErrorCode, message: bytes = b"") -> bytes:
    return encode_frame(FrameType.ERROR, bytes([code]) + message)


Reply = Callable[[Frame], bytes]


def frames(conn: socket.socket, seen: list[Frame]) -> Iterator[Frame]:
    """The frames the host sends, recorded in `seen`, until it hangs up."""
    buffer = bytearray()
    while True:
        while (frame := decode_frame(buffer)) is None:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buffer += chunk
        seen.append(frame)
        yield frame


def answers(replies: list[Reply], seen: list[Frame], info: bytes = INFO_PAYLOAD) -> Script:
    """A board answering INFO with `info` and each other request with the next of `replies`."""

    def script(conn: socket.socket, stop: threading.Event) -> None:
        pending = list(replies)
        for frame in frames(conn, seen):
            if frame.type == FrameType.INFO:
                conn.sendall(encode_frame(FrameType.INFO | FrameType.REPLY, info))
            elif pending:
                conn.sendall(pending.pop(0)(frame))

    return script


def echo(frame: Frame) -> bytes:
    return encode_frame(FrameType.INFER | FrameType.REPLY, TIMING + frame.payload)


@pytest.mark.parametrize(("info_payload", "infer_reply", "message"), [
    (b"\x01\x00\x00", b"", "malformed INFO reply (3 bytes)"),
    (struct.pack("<III", 2, 1, 4), b"", "malformed INFO reply (12 bytes)"),
    (INFO_PAYLOAD, TIMING[:5], "INFER reply has 5 bytes, expected 20"),
    (INFO_PAYLOAD, b"", "INFER reply has 0 bytes, expected 20"),
])
def test_truncated_replies_are_clear_errors(info_payload: bytes, infer_reply: bytes, message: str) -> None:
    reply = encode_frame(FrameType.INFER | FrameType.REPLY, infer_reply)
    with FakeBoard(answers([lambda f: reply], [], info_payload)) as board, \
            Device(board.url, timeout_s=30) as device, pytest.raises(TinypipeError) as info:
        device.infer([np.zeros(4, np.int8)])
    assert message in info.value.what and "re-flash" in info.value.hint


def test_rejected_frames_are_retried_and_stray_replies_dropped() -> None:
    """TIMEOUT, then a stray error for the frame's tail, then BAD_CRC: the third send is answered,
    and the next request still gets its own reply, not one left over from the retries."""

    def timeout_then_stray(frame: Frame) -> bytes:
        return error_frame(ErrorCode.TIMEOUT, b"frame payload timed out") + error_frame(ErrorCode.BAD_LENGTH)

    seen: list[Frame] = []
    script = answers([timeout_then_stray, lambda f: error_frame(ErrorCode.BAD_CRC), echo, echo], seen)
    with FakeBoard(script) as board, Device(board.url, timeout_s=30) as device:
        first = np.array([1, 2, 3, 4], np.int8)
        second = np.array([5, 6, 7, 8], np.int8)
        outputs, ticks = device.infer([first])
        np.testing.assert_array_equal(outputs[0], first)
        assert (ticks, device.last_units, device.retries) == (7, 280, 2)
        np.testing.assert_array_equal(device.infer([second])[0][0], second)
        assert device.retries == 2
    assert [f.type for f in seen] == [FrameType.INFO] + [FrameType.INFER] * 4


@pytest.mark.parametrize(("code", "hint"), [
    (ErrorCode.TIMEOUT, "in-frame timeout expired"),
    (ErrorCode.BAD_CRC, "arrived corrupted"),
])
def test_persistent_rejection_says_what_happened(code: ErrorCode, hint: str) -> None:
    seen: list[Frame] = []
    script = answers([lambda f: error_frame(code, b"frame payload timed out")] * 3, seen)
    with FakeBoard(script) as board, Device(board.url, timeout_s=30) as device, \
            pytest.raises(TinypipeError) as info:
        device.infer([np.zeros(4, np.int8)])
    assert f"rejected a INFER request 3 times: {code.name}" in info.value.what
    assert hint in info.value.hint and "line noise" not in str(info.value)
    assert len(seen) == 1 + 3


def test_invoke_errors_and_silence_are_not_retried() -> None:
    seen: list[Frame] = []
    invoke_error = error_frame(ErrorCode.INVOKE, b"the runtime failed\x1b[2J")
    script = answers([lambda f: invoke_error, lambda f: b""], seen)
    with FakeBoard(script) as board, Device(board.url, timeout_s=30) as device:
        with pytest.raises(TinypipeError, match=r"INVOKE \(the runtime failed\?\[2J\)"):
            device.infer([np.zeros(4, np.int8)])
        silence = "a reply to INFER .* none came within 1 s of host time"
        with pytest.raises(TinypipeError, match=silence) as info:
            device.infer([np.zeros(4, np.int8)], timeout_s=1)
        assert "stopped answering" in info.value.hint and device.retries == 0
    assert len(seen) == 1 + 2


# --- the real harness, built for the host ---------------------------------------------------------


@pytest.fixture(scope="module")
def stub_binaries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {"board": build_stub(tmp_path_factory.mktemp("stub"), runs=1),
            "qemu": build_stub(tmp_path_factory.mktemp("stub-qemu"), runs=1, cflags=["-DTP_QEMU"])}


def test_the_harness_answers_a_damaged_frame_and_the_retry_succeeds(stub_binaries: dict[str, Path]) -> None:
    a, b = np.arange(8, dtype=np.int8), np.arange(8, 13, dtype=np.int8)
    with HostBoard(stub_binaries["board"]) as board, Device(board.url, timeout_s=30) as device:
        read_results(device, 30)
        device.info()
        real_write = device.write
        damaged: list[bytes] = []

        def write_once_damaged(data: bytes) -> None:
            if not damaged:
                damaged.append(data)
                data = data[:9] + bytes([data[9] ^ 0x40]) + data[10:]  # a payload bit flips on the line
            real_write(data)

        device.write = write_once_damaged  # type: ignore[method-assign]
        outputs, _ = device.infer([a, b])
        np.testing.assert_array_equal(outputs[0], stub_model(a, b))
        assert device.retries == 1
        device.bye()
        assert board.wait() == 0


@pytest.mark.parametrize(("build", "stalls_tolerated"), [("board", False), ("qemu", True)])
def test_an_emulated_board_waits_out_a_host_stall_mid_frame(build: str, stalls_tolerated: bool,
                                                           stub_binaries: dict[str, Path]) -> None:
    """The host stops sending for longer than a real board's in-frame timeout (500 ms, in the host
    HAL's real time here): a real board answers TIMEOUT, a TP_QEMU build waits for the rest."""
    a, b = np.arange(8, dtype=np.int8), np.arange(8, 13, dtype=np.int8)
    frame = encode_frame(FrameType.INFER, a.tobytes() + b.tobytes())
    with HostBoard(stub_binaries[build]) as board, Device(board.url, timeout_s=30) as device:
        read_results(device, 30)
        device.write(frame[:12])
        time.sleep(1.5)  # a stall: only ever longer under load, so the outcome does not depend on speed
        if stalls_tolerated:
            device.write(frame[12:])
            reply = device.read_frame()
            assert reply.type == FrameType.INFER | FrameType.REPLY, reply
            assert reply.payload[16:] == stub_model(a, b).tobytes()
        else:
            reply = device.read_frame()
            assert (reply.type, reply.payload[0]) == (FrameType.ERROR, ErrorCode.TIMEOUT)
            device.write(frame[12:])  # the tail is skipped as noise: the board keeps serving
            np.testing.assert_array_equal(device.infer([a, b])[0][0], stub_model(a, b))


# --- real firmware under QEMU ----------------------------------------------------------------------


def qemu_command_line(session_pid: int) -> list[str]:
    """The qemu-system-arm command of an EmulatorSession (its process group is session_pid)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        pgrp = int(stat.rsplit(")", 1)[1].split()[2])
        if pgrp == session_pid and cmdline and cmdline[0].endswith(b"qemu-system-arm"):
            return [arg.decode() for arg in cmdline if arg]
    raise AssertionError(f"no qemu-system-arm in process group {session_pid}")


@pytest.mark.qemu
@pytest.mark.slow
def test_qemu_serial_link(tmp_path: Path) -> None:
    """The emulator's TCP serial has TCP_NODELAY, and the firmware waits out a host stall mid-frame."""
    from tinypipe.build import build, emulate
    from tinypipe.export import export
    from tinypipe.reference import Reference, random_inputs

    project = export(DIGITS_MODEL, "qemu-m4", tmp_path / "fw", runs=1)
    build(project.dir)
    reference = Reference(DIGITS_MODEL)
    x = random_inputs(reference.input_details, 1, seed=3)[0][0]
    with emulate(project.dir, timeout_s=BACKSTOP_S) as session:
        serial_arg = qemu_command_line(session.pid)
        serial_arg = serial_arg[serial_arg.index("-serial") + 1]
        assert "nodelay=on" in serial_arg.split(","), serial_arg
        with Device(session.url, timeout_s=BACKSTOP_S, open_timeout_s=10) as device:
            read_results(device, BACKSTOP_S)
            device.info()
            frame = encode_frame(FrameType.INFER, np.ascontiguousarray(x).tobytes())
            device.write(frame[:20])
            time.sleep(2)
            device.write(frame[20:])
            reply = device.read_frame()
            assert reply.type == FrameType.INFER | FrameType.REPLY, reply
            expected = reference([x])[0].ravel()
            np.testing.assert_array_equal(np.frombuffer(reply.payload[16:], np.int8), expected)
            for _ in range(20):
                np.testing.assert_array_equal(device.infer([x])[0][0], expected)
            assert device.retries == 0
            device.bye()
        assert session.wait(timeout_s=BACKSTOP_S) == 0


@pytest.mark.qemu
@pytest.mark.slow
def test_vww_validation_on_qemu_under_load(tmp_path: Path) -> None:
    """27 KB frames to an emulated board while two CPU-bound processes compete for the cores."""
    from tinypipe.validate import validate

    model = mlperf_model("vww_96_int8")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        result = validate(model, board="qemu-m4", samples=3, work_dir=tmp_path)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert result.ok, result.summary()
