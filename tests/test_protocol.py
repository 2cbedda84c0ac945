"""The board protocol end to end: the real harness (built for the host) over loopback TCP.

The stub runtime (tests/host/stub_glue.c) exercises framing with two inputs; the aot-compiled
KWS model checks outputs bit for bit against the reference interpreter.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import mlperf_model
from tests.host_harness import HostBoard, build_aot, build_stub
from tinypipe.device.protocol import (
    MAGIC,
    Device,
    FrameType,
    Record,
    bench_input,
    crc32,
    decode_frame,
    encode_frame,
    output_checksum,
    parse_record,
)
from tinypipe.errors import TinypipeError
from tinypipe.reference import Reference, random_inputs

STUB_INPUTS = (8, 5)
STUB_OUTPUT = 4
STUB_RUNS = 3


def stub_model(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What stub_glue.c computes: output k = int8 sum of input bytes at positions = k mod 4."""
    flat = np.concatenate([a, b]).astype(np.uint8)
    sums = [int(flat[k::STUB_OUTPUT].sum()) & 0xFF for k in range(STUB_OUTPUT)]
    return np.array(sums, dtype=np.uint8).view(np.int8)


@pytest.fixture(scope="module")
def stub_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_stub(tmp_path_factory.mktemp("stub"), runs=STUB_RUNS)


def read_until(device: Device, kind: str) -> list[Record]:
    records = []
    while not records or records[-1].kind != kind:
        records.append(device.read_record())
    return records


# --- pure Python ---------------------------------------------------------------------------------


def test_frames_round_trip_through_noise_and_corruption() -> None:
    good = encode_frame(FrameType.INFER, b"\x01\x02\x03")
    corrupt = bytearray(encode_frame(FrameType.INFO, b"xyz"))
    corrupt[-1] ^= 0xFF
    absurd_length = MAGIC + struct.pack("<BI", FrameType.INFO, 0xFFFFFFF0)
    buffer = bytearray(b"noise\xa5" + bytes(corrupt) + absurd_length + good[:5])
    assert decode_frame(buffer) is None  # the good frame is incomplete so far
    buffer += good[5:] + b"\xa5"
    frame = decode_frame(buffer)
    assert frame is not None and (frame.type, frame.payload) == (FrameType.INFER, b"\x01\x02\x03")
    assert buffer == b"\xa5"  # a possible half magic is kept for the next read


def test_crc_is_zlib_ieee() -> None:
    assert crc32(b"123456789") == 0xCBF43926  # the CRC-32/IEEE check value
    assert crc32(b"6789", crc32(b"12345")) == 0xCBF43926


def test_records_parse_and_noise_does_not() -> None:
    record = parse_record("TP RUN i=3 ticks=100 units=4000\r\n")
    assert record is not None and record.kind == "RUN" and record.int("units") == 4000
    for noise in ["", "TP", "TPX a=1", "TP run i=1", "TP RUN i=1 garbage", "\x00\xffTP RUN i=1", "hello",
                  "TP RUN i=1 name=\x1b[2J", "TP RUN i=\ufffd", "TP RUN i=1 i=2", "TP RUN i=" + "9" * 2000]:
        assert parse_record(noise) is None, noise


def test_bench_input_is_the_lcg_the_harness_uses() -> None:
    first = bench_input([3])[0].view(np.uint8)
    state, expected = 0x54500001, []
    for _ in range(3):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        expected.append(state >> 24)
    assert first.tolist() == expected


# --- the harness on the host ---------------------------------------------------------------------


def test_stub_harness_records_and_inference(stub_binary: Path) -> None:
    with HostBoard(stub_binary, noise=True) as board, Device(board.url, timeout_s=10) as device:
        records = read_until(device, "READY")
        kinds = [r.kind for r in records]
        assert kinds == ["BOOT", *["RUN"] * STUB_RUNS, "RESULT", "LAYER", "LAYER", "READY"]
        assert device.skipped_lines >= 3  # the noise lines the host HAL sent before BOOT
        boot, result = records[0], records[STUB_RUNS + 1]
        assert boot.fields["input_bytes"] == str(sum(STUB_INPUTS))
        assert result.int("runs") == STUB_RUNS
        assert result.int("checksum") == output_checksum([stub_model(*bench_input(STUB_INPUTS))])
        assert [r.fields["name"] for r in records if r.kind == "LAYER"] == ["stub_sum", "stub_copy"]

        info = device.info()
        assert (info.input_bytes, info.output_bytes) == (list(STUB_INPUTS), [STUB_OUTPUT])
        rng = np.random.default_rng(0)
        for _ in range(5):
            a, b = (rng.integers(-128, 128, n, dtype=np.int8) for n in STUB_INPUTS)
            outputs, ticks = device.infer([a, b])
            np.testing.assert_array_equal(outputs[0], stub_model(a, b))
            assert ticks > 0 and device.last_units == ticks  # host HAL: 1 unit per tick

        device.bye()
        assert device.read_record() == Record("DONE", {"reason": "bye"})
        assert board.wait() == 0


def test_bad_frames_get_error_frames_and_the_board_keeps_serving(stub_binary: Path) -> None:
    good_payload = bytes(range(sum(STUB_INPUTS)))
    with HostBoard(stub_binary) as board, Device(board.url, timeout_s=10) as device:
        read_until(device, "READY")

        def expect_error(raw: bytes, code: int) -> None:
            device.write(raw)
            reply = device.read_frame()
            assert (reply.type, reply.payload[0]) == (FrameType.ERROR, code), reply

        corrupt = bytearray(encode_frame(FrameType.INFER, good_payload))
        corrupt[10] ^= 0x01
        expect_error(bytes(corrupt), 1)  # BAD_CRC
        expect_error(encode_frame(FrameType.INFER, good_payload[:-1]), 2)  # BAD_LENGTH
        expect_error(encode_frame(0x42, b"??"), 3)  # UNKNOWN_TYPE
        expect_error(encode_frame(FrameType.INFER, good_payload)[:12], 4)  # stops half-way: TIMEOUT
        with pytest.raises(TinypipeError, match="BAD_LENGTH"):
            device.request(FrameType.INFO, b"x")

        device.write(b"line noise \xa5\x00\xff between frames")
        outputs, _ = device.infer([np.frombuffer(good_payload[:8], np.int8),
                                   np.frombuffer(good_payload[8:], np.int8)])
        np.testing.assert_array_equal(outputs[0], stub_model(np.arange(8), np.arange(8, 13)))
        with pytest.raises(TinypipeError, match="input 1 has 4 bytes, the model on the board takes 5"):
            device.infer([np.zeros(8, np.int8), np.zeros(4, np.int8)])


def test_vanished_port_is_a_clear_error(stub_binary: Path) -> None:
    with HostBoard(stub_binary) as board, Device(board.url, timeout_s=10) as device:
        read_until(device, "READY")
        board.kill()
        with pytest.raises(TinypipeError, match="serial connection went away"):
            device.infer([np.zeros(8, np.int8), np.zeros(5, np.int8)])


def test_unopenable_port_is_a_clear_error() -> None:
    with pytest.raises(TinypipeError, match="cannot open the serial port"):
        Device("/dev/ttyDOES_NOT_EXIST")


def test_aot_kws_on_the_host_is_bit_exact(tmp_path: Path) -> None:
    model = mlperf_model("kws_ref_model")
    reference = Reference(model)
    binary = build_aot(tmp_path, model, runs=2, profile=True)
    with HostBoard(binary) as board, Device(board.url, timeout_s=30) as device:
        records = read_until(device, "READY")
        info = device.info()
        bench = bench_input(info.input_bytes)
        expected = reference([bench[0].reshape(reference.input_details[0]["shape"])])
        result = next(r for r in records if r.kind == "RESULT")
        assert result.int("checksum") == output_checksum(expected)
        from tinypipe.aot.codegen import generate

        layers = generate(model, tmp_path / "names").layers
        assert [r.fields["name"] for r in records if r.kind == "LAYER"] == [la.name for la in layers]

        inputs = random_inputs(reference.input_details, 10, seed=7)[0]
        for x in inputs:
            outputs, ticks = device.infer([x])
            np.testing.assert_array_equal(outputs[0], reference([x])[0].ravel())
            assert ticks > 0
        device.bye()
        assert board.wait() == 0
