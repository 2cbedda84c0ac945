"""Host side of the board protocol: `TP …` text records and CRC-checked binary frames.

The firmware harness (firmware_templates/common/tp_harness.c) prints one-line records while
it boots and benchmarks, then answers validation frames (tp_protocol.h documents the wire
format; the constants below must match it). `Device` talks to it over any pyserial URL: a
real port (`/dev/ttyACM0`, `COM3`) or an emulator's TCP serial (`socket://127.0.0.1:4321`).
It never blocks for longer than the timeout it was given, skips noise between records and
frames, and turns a vanished port into a TinypipeError.
"""

from __future__ import annotations

import contextlib
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import serial

from tinypipe.errors import TinypipeError

PROTOCOL_VERSION = 1
MAGIC = bytes((0xA5, 0x5A))
RECORD_PREFIX = "TP "
MAX_LINE_BYTES = 1024  # longer "lines" are binary noise, not records
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024  # a larger length field is noise that happened to follow MAGIC
READ_SLICE_S = 0.05  # pyserial read timeout; deadlines are enforced around it
OPEN_RETRY_S = 0.1

_HEADER = struct.Struct("<BI")  # type, payload length
_CRC = struct.Struct("<I")
_TIMING = struct.Struct("<QQ")  # ticks, units
_U32 = struct.Struct("<I")

# The benchmark input: a 32-bit LCG, top byte of each step (TP_BENCH_SEED &c. in tp_harness.c).
BENCH_SEED = 0x54500001
LCG_MULTIPLIER = 1664525
LCG_INCREMENT = 1013904223
LCG_OUTPUT_SHIFT = 24
_U32_MASK = 0xFFFFFFFF


class FrameType(IntEnum):
    INFO = 0x01
    INFER = 0x02
    BYE = 0x03
    REPLY = 0x80
    ERROR = 0xFF


class ErrorCode(IntEnum):
    BAD_CRC = 1
    BAD_LENGTH = 2
    UNKNOWN_TYPE = 3
    TIMEOUT = 4
    INVOKE = 5


def crc32(data: bytes, crc: int = 0) -> int:
    """CRC-32 (IEEE 802.3), the same function as tp_crc32() in the firmware."""
    return zlib.crc32(data, crc) & _U32_MASK


def encode_frame(frame_type: int, payload: bytes = b"") -> bytes:
    header = _HEADER.pack(frame_type, len(payload))
    return MAGIC + header + payload + _CRC.pack(crc32(header + payload))


@dataclass
class Frame:
    type: int
    payload: bytes


def decode_frame(buffer: bytearray) -> Frame | None:
    """Remove and return the first complete frame in `buffer`, skipping noise; None if none yet.

    Bytes before a magic sequence are dropped; a frame with a bad CRC or an absurd length is
    treated as noise (its magic is dropped and the search resumes after it). An incomplete
    frame stays in the buffer for the next call.
    """
    while True:
        start = buffer.find(MAGIC)
        if start < 0:
            del buffer[: max(0, len(buffer) - (len(MAGIC) - 1))]  # keep a possible half magic
            return None
        del buffer[:start]
        head_end = len(MAGIC) + _HEADER.size
        if len(buffer) < head_end:
            return None
        frame_type, length = _HEADER.unpack_from(buffer, len(MAGIC))
        if length > MAX_PAYLOAD_BYTES:
            del buffer[:1]
            continue
        end = head_end + length + _CRC.size
        if len(buffer) < end:
            return None
        (crc,) = _CRC.unpack_from(buffer, end - _CRC.size)
        if crc != crc32(bytes(buffer[len(MAGIC): end - _CRC.size])):
            del buffer[:1]
            continue
        frame = Frame(frame_type, bytes(buffer[head_end: end - _CRC.size]))
        del buffer[:end]
        return frame


def bench_input(input_bytes: Sequence[int]) -> list[np.ndarray]:
    """The harness's fixed benchmark input, one flat int8 array per model input."""
    state = BENCH_SEED
    out = []
    for size in input_bytes:
        values = np.empty(size, dtype=np.uint8)
        for k in range(size):
            state = (state * LCG_MULTIPLIER + LCG_INCREMENT) & _U32_MASK
            values[k] = state >> LCG_OUTPUT_SHIFT
        out.append(values.view(np.int8))
    return out


def output_checksum(outputs: Sequence[np.ndarray]) -> int:
    """CRC-32 of the output tensors back to back, as in the `TP RESULT checksum=` field."""
    crc = 0
    for array in outputs:
        crc = crc32(np.ascontiguousarray(array).tobytes(), crc)
    return crc


@dataclass
class Record:
    """One `TP KIND key=value …` line."""

    kind: str
    fields: dict[str, str] = field(default_factory=dict)

    def int(self, key: str) -> int:
        try:
            return int(self.fields[key], 0)
        except (KeyError, ValueError):
            raise TinypipeError(
                f"record `TP {self.kind}` has no integer field {key!r} ({self.fields})",
                "the firmware and this tinypipe version disagree; re-export the firmware",
            ) from None


def parse_record(line: str) -> Record | None:
    """Parse one line; None for anything that is not a well-formed record (noise)."""
    line = line.strip()
    if not line.startswith(RECORD_PREFIX):
        return None
    kind, *tokens = line[len(RECORD_PREFIX):].split()
    if not kind.isalpha() or not kind.isupper():
        return None
    fields = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key:
            return None
        fields[key] = value
    return Record(kind, fields)


def open_port(port: str, baud: int = 115200, timeout: float = READ_SLICE_S) -> serial.SerialBase:
    """Open a pyserial URL without discarding what already arrived.

    pyserial's open() ends with reset_input_buffer(); on a socket:// port that throws away
    the boot records an emulator sent the moment the connection was accepted. Skipping it is
    harmless on real ports too: stale bytes are noise the record and frame readers skip.
    """
    port_obj = serial.serial_for_url(port, baudrate=baud, timeout=timeout, do_not_open=True)
    port_obj.reset_input_buffer = lambda: None  # type: ignore[method-assign]
    try:
        port_obj.open()
    finally:
        del port_obj.reset_input_buffer
    return port_obj


@dataclass
class DeviceInfo:
    input_bytes: list[int]
    output_bytes: list[int]


class Device:
    """A board running the tinypipe harness, over a pyserial URL or port name."""

    def __init__(self, port: str, baud: int = 115200, timeout_s: float = 10.0,
                 open_timeout_s: float = 0.0) -> None:
        """Open `port`; retry for up to `open_timeout_s` while it refuses (an emulator starting)."""
        self.port = port
        self.timeout_s = timeout_s
        self.skipped_lines = 0  # noise lines seen between records
        self.last_units = 0  # units of the last `infer`
        self._buffer = bytearray()
        self._info: DeviceInfo | None = None
        deadline = time.monotonic() + open_timeout_s
        while True:
            try:
                self._serial = open_port(port, baud)
                return
            except (serial.SerialException, OSError, ValueError) as exc:
                if time.monotonic() < deadline:
                    time.sleep(OPEN_RETRY_S)
                    continue
                error = exc
            raise TinypipeError(
                f"{port}: cannot open the serial port ({error})",
                "check the port name and that the board is plugged in and not held by another "
                "monitor; for socket:// URLs, that the emulator is listening on that port",
            ) from None

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(serial.SerialException, OSError):
            self._serial.close()

    # --- bytes ----------------------------------------------------------------------------

    def _lost(self, exc: Exception) -> TinypipeError:
        return TinypipeError(
            f"{self.port}: the serial connection went away ({exc})",
            "the board was reset or unplugged, or the emulator exited; check its output",
        )

    def _read_more(self, deadline: float, waiting_for: str) -> None:
        """Append at least one byte to the buffer, or raise when the deadline passes."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TinypipeError(
                    f"{self.port}: timed out waiting for {waiting_for}",
                    "check the baud rate and that the board runs tinypipe firmware "
                    "(reset it to restart the records), or raise --timeout",
                )
            try:
                self._serial.timeout = min(READ_SLICE_S, left)
                chunk = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError) as exc:
                raise self._lost(exc) from None
            if chunk:
                self._buffer += chunk
                return

    def write(self, data: bytes) -> None:
        """Send raw bytes (frames, or deliberate noise in tests)."""
        try:
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from None

    def _deadline(self, timeout_s: float | None) -> float:
        return time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)

    # --- records --------------------------------------------------------------------------

    def read_record(self, timeout_s: float | None = None) -> Record:
        """The next `TP …` record; noise lines are counted in `skipped_lines` and skipped."""
        deadline = self._deadline(timeout_s)
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > MAX_LINE_BYTES:
                    self._buffer.clear()
                    self.skipped_lines += 1
                self._read_more(deadline, "a `TP` record")
                continue
            line = self._buffer[:newline].decode("ascii", errors="replace")
            del self._buffer[: newline + 1]
            record = parse_record(line)
            if record is not None:
                return record
            if line.strip():
                self.skipped_lines += 1

    # --- frames ---------------------------------------------------------------------------

    def read_frame(self, timeout_s: float | None = None) -> Frame:
        """The next valid frame; noise and corrupt frames are skipped."""
        deadline = self._deadline(timeout_s)
        while True:
            frame = decode_frame(self._buffer)
            if frame is not None:
                return frame
            self._read_more(deadline, "a reply frame")

    def request(self, frame_type: FrameType, payload: bytes = b"", timeout_s: float | None = None) -> bytes:
        """Send one request and return its reply's payload; an error frame raises."""
        self.write(encode_frame(frame_type, payload))
        reply = self.read_frame(timeout_s)
        if reply.type == FrameType.ERROR:
            code = reply.payload[0] if reply.payload else 0
            name = ErrorCode(code).name if code in ErrorCode._value2member_map_ else str(code)
            message = reply.payload[1:].decode("ascii", errors="replace")
            raise TinypipeError(
                f"{self.port}: the board rejected a {frame_type.name} request: {name} ({message})",
                "line noise or a firmware/host version mismatch; re-export and re-flash",
            )
        if reply.type != frame_type | FrameType.REPLY:
            raise TinypipeError(
                f"{self.port}: expected a reply to {frame_type.name}, got frame type 0x{reply.type:02x}",
                "another program may be talking to the board; close other monitors",
            )
        return reply.payload

    def info(self) -> DeviceInfo:
        if self._info is None:
            payload = self.request(FrameType.INFO)
            n_in, n_out = struct.unpack_from("<II", payload)
            sizes = [v for (v,) in _U32.iter_unpack(payload[8:])]
            if len(sizes) != n_in + n_out:
                raise TinypipeError(f"{self.port}: malformed INFO reply ({len(payload)} bytes)")
            self._info = DeviceInfo(sizes[:n_in], sizes[n_in:])
        return self._info

    def infer(self, inputs: Sequence[np.ndarray],
              timeout_s: float | None = None) -> tuple[list[np.ndarray], int]:
        """Run one inference on the board: (flat int8 outputs, ticks). Units in `last_units`."""
        info = self.info()
        if len(inputs) != len(info.input_bytes):
            raise TinypipeError(
                f"{self.port}: the model on the board takes {len(info.input_bytes)} inputs, got {len(inputs)}"
            )
        blobs = [np.ascontiguousarray(x).tobytes() for x in inputs]
        for i, (blob, want) in enumerate(zip(blobs, info.input_bytes, strict=True)):
            if len(blob) != want:
                raise TinypipeError(
                    f"{self.port}: input {i} has {len(blob)} bytes, the model on the board takes {want}",
                    "the board runs a different model than the one you validate against; re-flash",
                )
        payload = self.request(FrameType.INFER, b"".join(blobs), timeout_s)
        ticks, self.last_units = _TIMING.unpack_from(payload)
        if len(payload) != _TIMING.size + sum(info.output_bytes):
            raise TinypipeError(f"{self.port}: INFER reply has {len(payload)} bytes, expected "
                                f"{_TIMING.size + sum(info.output_bytes)}")
        outputs, offset = [], _TIMING.size
        for size in info.output_bytes:
            outputs.append(np.frombuffer(payload, dtype=np.int8, count=size, offset=offset).copy())
            offset += size
        return outputs, ticks

    def bye(self) -> None:
        """End the session; the board prints `TP DONE reason=bye` and exits."""
        self.request(FrameType.BYE)
