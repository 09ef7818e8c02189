"""The flight recording format: what is written reads back exactly; a truncated, damaged or foreign
file is refused with a RecordingError naming the problem, never replayed into other outputs."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from flight import CommandCode, Recorder, RecordingError, encode_command, read_recording
from flight.comms._recording import FRAME, MAGIC, TELECOMMAND

HEADER = {"store": {"A": "ab" * 32, "B": None}, "config": "engine: {}\n", "redundancy": "tmr", "seed": 7}


def write(path, records, header=HEADER):
    recorder = Recorder(path, header)
    for kind, cycle, payload in records:
        if kind == FRAME:
            recorder.frame(cycle, payload)
        else:
            recorder.telecommand(cycle, payload)
    recorder.close()
    return path


def read_all(path):
    header, records = read_recording(path)
    return header, list(records)


@pytest.fixture
def recording(tmp_path):
    frames = [np.arange(8, dtype=np.float32).reshape(1, 8), np.array([[1, 2], [3, 4]], np.int64)]
    return write(tmp_path / "run.log", [
        (FRAME, 1, frames),
        (TELECOMMAND, 1, encode_command(CommandCode.NOOP, seq_count=3)),
        (FRAME, 2, [np.full((1, 8), -0.0, np.float32)]),
    ])


def test_a_recording_reads_back_exactly(recording):
    header, records = read_all(recording)
    assert header == HEADER
    assert [(r.kind, r.cycle) for r in records] == [(FRAME, 1), (TELECOMMAND, 1), (FRAME, 2)]
    first = records[0].arrays()
    assert first[0].tobytes() == np.arange(8, dtype=np.float32).tobytes() and first[0].shape == (1, 8)
    assert first[1].dtype == np.int64 and first[1].tolist() == [[1, 2], [3, 4]]
    assert records[1].payload == encode_command(CommandCode.NOOP, seq_count=3)
    assert np.signbit(records[2].arrays()[0]).all()  # bits, not values: -0.0 stays -0.0


@settings(deadline=None, max_examples=50)
@given(
    frames=st.lists(
        st.lists(hnp.arrays(st.sampled_from([np.float32, np.float64, np.int32, np.uint8]),
                            hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)), min_size=1, max_size=3),
        max_size=5),
    data=st.data(),
)
def test_any_frames_round_trip_bit_exactly(tmp_path_factory, frames, data):
    path = tmp_path_factory.mktemp("rec") / "run.log"
    cycles = data.draw(st.lists(st.integers(0, 2**64 - 1), min_size=len(frames), max_size=len(frames)))
    write(path, [(FRAME, c, f) for c, f in zip(cycles, frames)])
    _, records = read_all(path)
    assert [r.cycle for r in records] == cycles
    for record, arrays in zip(records, frames):
        got = record.arrays()
        assert [(a.dtype, a.shape, a.tobytes()) for a in got] == [(a.dtype, a.shape, a.tobytes()) for a in arrays]


def test_a_scalar_frame_keeps_its_shape(tmp_path):
    path = write(tmp_path / "run.log", [(FRAME, 1, [np.array(2.5, np.float32)])])
    _, records = read_all(path)
    assert records[0].arrays()[0].shape == ()


def test_a_recording_cut_inside_a_record_is_refused_as_truncated(recording):
    data = recording.read_bytes()
    header_end = len(MAGIC) + 4 + struct.unpack_from(">I", data, len(MAGIC))[0]
    for cut in (1, 4, 10):
        recording.write_bytes(data[:-cut])
        with pytest.raises(RecordingError, match=rf"^{recording}: truncated record at byte \d+$"):
            read_all(recording)
    recording.write_bytes(data[: header_end + 5])  # inside the first record's own header
    with pytest.raises(RecordingError, match=rf"^{recording}: truncated record at byte {header_end}$"):
        read_all(recording)


def test_a_flipped_bit_in_a_record_is_refused_as_damaged_naming_byte_and_cycle(recording):
    data = bytearray(recording.read_bytes())
    header_end = len(MAGIC) + 4 + struct.unpack_from(">I", data, len(MAGIC))[0]
    data[header_end + 20] ^= 0x04  # inside the first frame's payload
    recording.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match=rf"^{recording}: damaged record at byte {header_end} \(cycle 1\)$"):
        read_all(recording)


def test_the_records_before_the_damage_are_read_before_it_is_reported(recording):
    data = bytearray(recording.read_bytes())
    data[-1] ^= 0x01  # the last record's CRC
    recording.write_bytes(bytes(data))
    _, records = read_recording(recording)
    assert next(records).cycle == 1 and next(records).kind == TELECOMMAND
    with pytest.raises(RecordingError, match=r"damaged record at byte \d+ \(cycle 2\)$"):
        next(records)


def test_a_record_of_an_unknown_kind_is_refused_even_with_a_good_crc(tmp_path):
    path = write(tmp_path / "run.log", [])
    from flight import crc32c

    rec = struct.pack(">BQI", 9, 5, 3) + b"abc"
    path.write_bytes(path.read_bytes() + rec + struct.pack(">I", crc32c(rec)))
    with pytest.raises(RecordingError, match=r"damaged record at byte \d+ \(cycle 5\)$"):
        read_all(path)


@pytest.mark.parametrize("content", [b"", b"SEUG", b"PK\x03\x04 a zip file", b"SEUGLOG2" + b"\0" * 8])
def test_a_foreign_file_is_refused(tmp_path, content):
    path = tmp_path / "other.bin"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=rf"^{path}: not a seuguard recording$"):
        read_recording(path)


@pytest.mark.parametrize("header", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_damaged_header_is_refused(tmp_path, header):
    path = tmp_path / "run.log"
    path.write_bytes(MAGIC + struct.pack(">I", len(header)) + header)
    with pytest.raises(RecordingError, match=rf"^{path}: damaged header$"):
        read_recording(path)


def test_a_header_cut_short_is_refused(recording):
    data = recording.read_bytes()
    recording.write_bytes(data[: len(MAGIC) + 4 + 10])
    with pytest.raises(RecordingError, match=rf"^{recording}: damaged header$"):
        read_recording(recording)


def test_a_missing_file_is_refused_by_name(tmp_path):
    with pytest.raises(RecordingError, match=rf"^{tmp_path / 'none.log'}: unreadable \(No such file or directory\)$"):
        read_recording(tmp_path / "none.log")
