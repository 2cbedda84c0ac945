"""`tinypipe monitor`: records from the real harness (host build), and sessions that end badly.

Timeouts and vanished ports are produced by a loopback TCP server that sends a scripted byte
stream (a board that stops talking, or one that is unplugged mid-run).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.host_harness import HostBoard, build_stub
from tinypipe.device.monitor import MonitorError, monitor

RUNS = 4
PARTIAL_STREAM = (b"\x00\xffboot noise\r\n"
                  b"TP BOOT board=b runtime=aot model=0123abcd arena=10 input_bytes=1 output_bytes=1 "
                  b"timer=systick unit=instructions tick_hz=25000000 units_per_tick=40\r\n"
                  b"TP RUN i=0 ticks=5 units=200\r\n"
                  b"line \xfe of garbage\r\n"
                  b"TP RUN i=1 ticks=6 units=240\r\n"
                  b"TP RUN i=2 ticks=")  # cut off mid-record


@pytest.fixture(scope="module")
def stub_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_stub(tmp_path_factory.mktemp("stub"), runs=RUNS, idle_ms=1000)


@pytest.fixture
def scripted_port(request: pytest.FixtureRequest) -> Iterator[str]:
    """A socket:// port that sends PARTIAL_STREAM, then stays silent ("silent") or hangs up."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(PARTIAL_STREAM)
        if request.param == "silent":
            stop.wait()
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"socket://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


def test_monitor_reads_the_harness_records(stub_binary: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    with HostBoard(stub_binary, noise=True) as board:
        result = monitor(board.url, timeout_s=10, json_out=out)
        assert result.complete and result.ready and result.error is None
        assert result.boot is not None and result.boot.runtime == "stub" and result.boot.input_bytes == 13
        assert [r.i for r in result.runs] == list(range(RUNS))
        assert result.result is not None and result.result.runs == RUNS
        assert sorted(r.units for r in result.runs)[0] == result.result.min
        assert [layer.name for layer in result.layers] == ["stub_sum", "stub_copy"]
        assert result.skipped_lines >= 3
        # monitor() returns at READY and closes the port; the host HAL exits on a closed socket.
        assert board.wait() == 4
    saved = json.loads(out.read_text())
    assert saved["complete"] is True and saved["result"]["checksum"] == f"0x{result.result.checksum:08x}"
    assert len(saved["runs"]) == RUNS


@pytest.mark.parametrize(("scripted_port", "message"), [
    ("silent", "timed out waiting for a `TP` record"),
    ("hang-up", "serial connection went away"),
], indirect=["scripted_port"])
def test_bad_endings_keep_partial_results(scripted_port: str, message: str, tmp_path: Path) -> None:
    out = tmp_path / "partial.json"
    with pytest.raises(MonitorError, match=message) as info:
        monitor(scripted_port, timeout_s=1.0, json_out=out)
    assert "(after 2 runs)" in info.value.what
    partial = info.value.partial
    assert partial.boot is not None
    assert (partial.boot.model, partial.boot.unit) == ("0123abcd", "instructions")
    assert [r.units for r in partial.runs] == [200, 240]
    assert partial.skipped_lines == 2
    saved = json.loads(out.read_text())
    assert saved["complete"] is False and message in saved["error"] and len(saved["runs"]) == 2


@pytest.mark.parametrize("scripted_port", ["silent"], indirect=True)
def test_cli_monitor_timeout_is_one_line_with_json(scripted_port: str, tmp_path: Path) -> None:
    out = tmp_path / "partial.json"
    result = subprocess.run([sys.executable, "-m", "tinypipe.cli", "monitor", "--port", scripted_port,
                             "--timeout", "1", "--json", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "timed out" in result.stderr.splitlines()[0]
    assert json.loads(out.read_text())["runs"][1]["units"] == 240


def test_board_error_record_is_reported(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(b"TP ERROR stage=init\r\n")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    with pytest.raises(MonitorError, match="the board failed at stage 'init'"):
        monitor(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout_s=5, json_out=tmp_path / "r.json")
    server.close()
    assert json.loads((tmp_path / "r.json").read_text())["boot"] is None
