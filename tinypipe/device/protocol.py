"""Host side of the board protocol: `TP …` text records and CRC-checked binary frames.

The firmware harness (firmware_templates/common/tp_harness.c) prints one-line records while
it boots and benchmarks, then answers validation frames (tp_protocol.h documents the wire
format; the constants below must match it). `Device` talks to it over any pyserial URL: a
real port (`/dev/ttyACM0`, `COM3`) or an emulator's TCP serial (`socket://127.0.0.1:4321`).
It never blocks for longer than the timeout it was given (host monotonic time), reads in
chunks, skips noise between records and frames, retries a request the board rejected as
damaged (a frame that timed out or failed its CRC on the way), and turns a vanished port, a
malformed reply or an exhausted retry into a TinypipeError.
"""

from __future__ import annotations

import contextlib
import math
import socket
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
READ_CHUNK_BYTES = 4096  # what one read takes of the bytes already there
OPEN_RETRY_S = 0.1
FRAME_TRIES = 3  # sends of one request the board rejected as damaged, before giving up
# Before a retry the line must go quiet this long (host time), so that the board has answered
# whatever it made of the rest of a damaged frame (its in-frame timeout is 500 ms on real boards)
# and no stale reply is taken for the retry's; SETTLE_MAX_S bounds a line that never goes quiet.
SETTLE_QUIET_S = 0.6
SETTLE_MAX_S = 5.0
MAX_MESSAGE_CHARS = 200  # of an error frame's text, as quoted to the user
FAULT_MARK = b"*** FAULT"  # the line every board's fault handler prints (tp_hal.h's tp_fault_line)

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
    RESET = 0x04  # a stateful (streaming) model's resource variables back to their initial values
    REPLY = 0x80
    ERROR = 0xFF


class ErrorCode(IntEnum):
    BAD_CRC = 1
    BAD_LENGTH = 2
    UNKNOWN_TYPE = 3
    TIMEOUT = 4
    INVOKE = 5
    RESET = 6


# What the board means by each error, as the hint of the error after the last try.
_RETRY_HINTS = {
    ErrorCode.BAD_CRC: "the frames arrived corrupted: the serial link flips bytes (check the cable, the "
                       "ground and the baud rate, and that no other program writes to the port)",
    ErrorCode.BAD_LENGTH: "the board did not recognise the frames: its firmware speaks another protocol "
                          "version, or the link corrupts bytes; re-export and re-flash",
    ErrorCode.UNKNOWN_TYPE: "the board did not recognise the frames: its firmware speaks another protocol "
                            "version, or the link corrupts bytes; re-export and re-flash",
    ErrorCode.TIMEOUT: "the board's in-frame timeout expired before the whole frame arrived: bytes were "
                       "lost on the link, or the host stalled mid-frame for longer than the board waits "
                       "(check the cable and the baud rate, and what else loads this machine)",
}


class ReadTimeout(TinypipeError):
    """Nothing (or not enough) arrived before a host-time deadline."""


def check_timeout(value: float, what: str = "the timeout") -> float:
    """`value` if it is a usable number of seconds: finite and positive (nan would wait forever)."""
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise TinypipeError(f"{what} must be a positive, finite number of seconds, got {value!r}",
                            "pass e.g. --timeout 60")
    return float(value)


def printable(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Device-supplied text made safe to show: printable ASCII only, at most `limit` characters."""
    clean = "".join(c if " " <= c <= "~" else "?" for c in text[:limit])
    return clean + ("..." if len(text) > limit else "")


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


def _is_record_text(token: str) -> bool:
    """Printable ASCII only: a control character (ESC, a decoding error's U+FFFD) means noise."""
    return all("!" <= c <= "~" for c in token)


def parse_record(line: str) -> Record | None:
    """Parse one line; None for anything that is not a well-formed record (noise).

    A record is printable ASCII, at most MAX_LINE_BYTES long, so nothing a device sends can put
    terminal control sequences into what tinypipe prints.
    """
    line = line.strip()
    if not line.startswith(RECORD_PREFIX) or len(line) > MAX_LINE_BYTES:
        return None
    kind, *tokens = line[len(RECORD_PREFIX):].split() or [""]
    if not kind.isascii() or not kind.isalpha() or not kind.isupper():
        return None
    fields = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not key or not _is_record_text(token) or key in fields:
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
    # socket:// leaves Nagle's algorithm on: the tail of a large frame would wait for an ACK.
    with contextlib.suppress(AttributeError, OSError):
        port_obj._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        self.timeout_s = check_timeout(timeout_s)
        self.skipped_lines = 0  # noise lines seen between records
        self.last_units = 0  # units of the last `infer`
        self.retries = 0  # requests sent again after the board rejected them as damaged
        self.fault: str | None = None  # the fault report line the board printed, if it did
        self._buffer = bytearray()
        self._skip_line = False  # inside an overlong line: drop bytes up to its end
        self._read_timeout: float | None = None
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
        at = self._buffer.find(FAULT_MARK)
        if self.fault is None and at >= 0:  # printed between frames, then the board stopped
            self.fault = self._buffer[at:].split(b"\n")[0].decode("ascii", errors="replace").strip()
        if self.fault is not None:
            return TinypipeError(
                f"{self.port}: the firmware faulted: {self.fault[:MAX_MESSAGE_CHARS]}",
                "a crash of the firmware running this model (mmfar/bfar: the address it touched); "
                "`tinypipe validate MODEL --board host` runs it under sanitizers; please report it "
                "with the model",
            )
        return TinypipeError(
            f"{self.port}: the serial connection went away ({exc})",
            "the board was reset or unplugged, or the emulator exited; check its output",
        )

    def _set_read_timeout(self, timeout_s: float) -> None:
        if timeout_s != self._read_timeout:  # on a real port every change is a tcsetattr()
            self._serial.timeout = timeout_s
            self._read_timeout = timeout_s

    def _read_chunk(self, wait_s: float) -> bytes:
        """Whatever has arrived, waiting up to `wait_s` for the first byte; b"" if nothing came.

        One read waits for a byte and returns as soon as it is there; a second, non-blocking one
        takes the rest of what is buffered (pyserial's socket:// reports in_waiting as 0 or 1, so
        sizing a read by it would mean a system call per byte).
        """
        try:
            self._set_read_timeout(wait_s)
            chunk = self._serial.read(1)
            if chunk:
                self._set_read_timeout(0)
                chunk += self._serial.read(READ_CHUNK_BYTES)
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from None
        return bytes(chunk)

    def _read_more(self, deadline: float, waiting_for: str, hint: str | None = None) -> None:
        """Append at least one byte to the buffer, or raise when the deadline passes."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReadTimeout(
                    f"{self.port}: timed out waiting for {waiting_for}",
                    hint or "check the baud rate and that the board runs tinypipe firmware "
                    "(reset it to restart the records), or raise --timeout",
                )
            chunk = self._read_chunk(min(READ_SLICE_S, left))
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
        return time.monotonic() + (self.timeout_s if timeout_s is None else check_timeout(timeout_s))

    def _settle(self) -> None:
        """Drop what is buffered and what arrives until the line has been quiet for SETTLE_QUIET_S
        (at most SETTLE_MAX_S): the board's answers to the rest of a damaged frame."""
        self._buffer.clear()
        end = time.monotonic() + SETTLE_MAX_S
        quiet_until = time.monotonic() + SETTLE_QUIET_S
        while (now := time.monotonic()) < min(quiet_until, end):
            if self._read_chunk(min(READ_SLICE_S, quiet_until - now)):
                quiet_until = time.monotonic() + SETTLE_QUIET_S

    # --- records --------------------------------------------------------------------------

    def read_record(self, timeout_s: float | None = None) -> Record:
        """The next `TP …` record; noise lines are counted in `skipped_lines` and skipped."""
        deadline = self._deadline(timeout_s)
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > MAX_LINE_BYTES:  # binary noise: drop it up to the next newline
                    self._buffer.clear()
                    if not self._skip_line:
                        self.skipped_lines += 1
                    self._skip_line = True
                self._read_more(deadline, "a `TP` record")
                continue
            if self._skip_line or newline > MAX_LINE_BYTES:  # the end of an overlong line
                del self._buffer[: newline + 1]
                if not self._skip_line:
                    self.skipped_lines += 1
                self._skip_line = False
                continue
            line = self._buffer[:newline].decode("ascii", errors="replace")
            del self._buffer[: newline + 1]
            record = parse_record(line)
            if record is not None:
                return record
            if line.strip():
                self.skipped_lines += 1
            if line.startswith(FAULT_MARK.decode()):
                self.fault = line.strip()

    # --- frames ---------------------------------------------------------------------------

    def read_frame(self, timeout_s: float | None = None, waiting_for: str = "a reply frame",
                   hint: str | None = None) -> Frame:
        """The next valid frame; noise and corrupt frames are skipped."""
        deadline = self._deadline(timeout_s)
        while True:
            frame = decode_frame(self._buffer)
            if frame is not None:
                return frame
            self._read_more(deadline, waiting_for, hint)

    def request(self, frame_type: FrameType, payload: bytes = b"", timeout_s: float | None = None,
                tries: int = FRAME_TRIES) -> bytes:
        """Send one request and return its reply's payload.

        A request the board rejects as damaged on the way (TIMEOUT, BAD_CRC, BAD_LENGTH,
        UNKNOWN_TYPE) is sent again, up to `tries` times in all, once the line has gone quiet;
        the last rejection, an INVOKE error, or no reply within `timeout_s` (host time) raises.
        No reply is not retried: the board may still be working, and its late reply would be
        taken for the answer to the next request.
        """
        timeout = self.timeout_s if timeout_s is None else check_timeout(timeout_s)
        frame = encode_frame(frame_type, payload)
        for attempt in range(1, tries + 1):
            if attempt > 1:
                self.retries += 1
                self._settle()
            self.write(frame)
            reply = self.read_frame(
                timeout, f"a reply to {frame_type.name} ({len(frame)} bytes sent): none came within "
                f"{timeout:g} s of host time",
                "the board stopped answering: it crashed, was reset, or is still busy; for an emulator "
                "see its log (tinypipe emulate), for a real board reset it, or raise the timeout")
            if reply.type != FrameType.ERROR:
                break
            code = reply.payload[0] if reply.payload else 0
            known = code in ErrorCode._value2member_map_
            name = ErrorCode(code).name if known else str(code)
            message = printable(reply.payload[1:].decode("ascii", errors="replace"))
            if known and ErrorCode(code) in _RETRY_HINTS and attempt < tries:
                continue
            if known and ErrorCode(code) in _RETRY_HINTS:
                raise TinypipeError(
                    f"{self.port}: the board rejected a {frame_type.name} request {tries} times: "
                    f"{name} ({message})", _RETRY_HINTS[ErrorCode(code)])
            raise TinypipeError(
                f"{self.port}: the board rejected a {frame_type.name} request: {name} ({message})",
                "the runtime on the board could not run the model; check the board's arena and that it "
                "was built for this model" if name == "INVOKE" else
                "the firmware speaks another protocol version than this tinypipe; re-export and re-flash",
            )
        if reply.type != frame_type | FrameType.REPLY:
            raise TinypipeError(
                f"{self.port}: expected a reply to {frame_type.name}, got frame type 0x{reply.type:02x}",
                "another program may be talking to the board; close other monitors",
            )
        return reply.payload

    def _malformed(self, what: str, payload: bytes) -> TinypipeError:
        return TinypipeError(
            f"{self.port}: malformed {what} reply ({len(payload)} bytes)",
            "the firmware and this tinypipe version disagree; re-export and re-flash",
        )

    def info(self) -> DeviceInfo:
        if self._info is None:
            payload = self.request(FrameType.INFO)
            if len(payload) < 8 or len(payload) % _U32.size:
                raise self._malformed("INFO", payload)
            n_in, n_out = struct.unpack_from("<II", payload)
            sizes = [v for (v,) in _U32.iter_unpack(payload[8:])]
            if n_in < 1 or n_out < 1 or len(sizes) != n_in + n_out or min(sizes) < 1:
                raise self._malformed("INFO", payload)
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
        if len(payload) != _TIMING.size + sum(info.output_bytes):
            raise TinypipeError(f"{self.port}: INFER reply has {len(payload)} bytes, expected "
                                f"{_TIMING.size + sum(info.output_bytes)}",
                                "the board runs another model or firmware version; re-export and re-flash")
        ticks, self.last_units = _TIMING.unpack_from(payload)
        outputs, offset = [], _TIMING.size
        for size in info.output_bytes:
            outputs.append(np.frombuffer(payload, dtype=np.int8, count=size, offset=offset).copy())
            offset += size
        return outputs, ticks

    def reset(self) -> None:
        """Reset the model's state (resource variables) on the board: the next `infer` starts a new
        sequence, as a fresh reference interpreter does. Stateless models ignore it."""
        try:
            self.request(FrameType.RESET)
        except TinypipeError as exc:
            if "UNKNOWN_TYPE" not in exc.what:
                raise
            raise TinypipeError(f"{self.port}: the firmware on the board predates the RESET request",
                                "re-export and re-flash it with this tinypipe") from None

    def bye(self) -> None:
        """End the session; the board prints `TP DONE reason=bye` and exits."""
        self.request(FrameType.BYE)
