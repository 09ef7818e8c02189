"""Flight recordings: every input frame and telecommand, so a flight can be replayed exactly.

File layout: the magic `SEUGLOG1`, a header (u32 length + JSON: the model store, the configuration
text, redundancy, seed), then records `kind u8, cycle u64, length u32, payload, CRC-32C u32`. Kinds:
1 a sensor frame (self-describing arrays), 2 a telecommand (raw packet, recorded at the cycle whose
comm slot consumed it). Each record carries its own CRC, so a damaged log is refused, never
replayed into different outputs.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np

from .._crc import crc32c
from .._errors import SeuguardError

MAGIC = b"SEUGLOG1"
FRAME, TELECOMMAND = 1, 2
_RECORD = struct.Struct(">BQI")


class RecordingError(SeuguardError):
    """A recording that is truncated, damaged or not a recording."""


def _pack_arrays(arrays: list[np.ndarray]) -> bytes:
    out = [struct.pack(">B", len(arrays))]
    for a in arrays:
        a = np.asarray(a, order="C")  # keeps a 0-d frame 0-d (ascontiguousarray makes it (1,))
        dt = a.dtype.str.encode()
        out.append(struct.pack(">B", len(dt)) + dt + struct.pack(">B", a.ndim) + struct.pack(f">{a.ndim}I", *a.shape))
        out.append(a.tobytes())
    return b"".join(out)


def _unpack_arrays(data: bytes) -> list[np.ndarray]:
    view = memoryview(data)
    (n,), pos = struct.unpack_from(">B", view, 0), 1
    arrays = []
    for _ in range(n):
        (dlen,) = struct.unpack_from(">B", view, pos)
        dtype = np.dtype(bytes(view[pos + 1 : pos + 1 + dlen]).decode())
        pos += 1 + dlen
        (ndim,) = struct.unpack_from(">B", view, pos)
        shape = struct.unpack_from(f">{ndim}I", view, pos + 1)
        pos += 1 + 4 * ndim
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        arrays.append(np.frombuffer(bytes(view[pos : pos + size]), dtype=dtype).reshape(shape))
        pos += size
    if pos != len(data):
        raise RecordingError("frame record has trailing bytes")
    return arrays


class Recorder:
    """Writes a recording; the executive calls `frame` and `telecommand`."""

    def __init__(self, path: Path | str, header: dict[str, Any]):
        self.path = Path(path)
        self._f: BinaryIO = open(self.path, "wb")
        head = json.dumps(header, sort_keys=True).encode()
        self._f.write(MAGIC + struct.pack(">I", len(head)) + head)

    def _write(self, kind: int, cycle: int, payload: bytes) -> None:
        rec = _RECORD.pack(kind, cycle, len(payload)) + payload
        self._f.write(rec + struct.pack(">I", crc32c(rec)))

    def frame(self, cycle: int, inputs: list[np.ndarray]) -> None:
        self._write(FRAME, cycle, _pack_arrays(inputs))
        if cycle % 64 == 0:  # a crash loses at most the last few frames, not the buffer
            self._f.flush()

    def telecommand(self, cycle: int, packet: bytes) -> None:
        self._write(TELECOMMAND, cycle, bytes(packet))
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


@dataclass(frozen=True)
class Record:
    kind: int
    cycle: int
    payload: bytes

    def arrays(self) -> list[np.ndarray]:
        return _unpack_arrays(self.payload)


def read_recording(path: Path | str) -> tuple[dict[str, Any], Iterator[Record]]:
    """The header and an iterator over the records; RecordingError on any damage."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"{path}: unreadable ({exc.strerror})") from None
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise RecordingError(f"{path}: not a seuguard recording")
    (hlen,) = struct.unpack_from(">I", data, len(MAGIC))
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start : start + hlen])
    except ValueError:
        raise RecordingError(f"{path}: damaged header") from None
    if not isinstance(header, dict):
        raise RecordingError(f"{path}: damaged header")

    def records() -> Iterator[Record]:
        pos = start + hlen
        while pos < len(data):
            if pos + _RECORD.size > len(data):
                raise RecordingError(f"{path}: truncated record at byte {pos}")
            kind, cycle, length = _RECORD.unpack_from(data, pos)
            end = pos + _RECORD.size + length
            if end + 4 > len(data):
                raise RecordingError(f"{path}: truncated record at byte {pos}")
            (crc,) = struct.unpack_from(">I", data, end)
            if crc32c(data[pos:end]) != crc or kind not in (FRAME, TELECOMMAND):
                raise RecordingError(f"{path}: damaged record at byte {pos} (cycle {cycle})")
            yield Record(kind, cycle, data[pos + _RECORD.size : end])
            pos = end + 4

    return header, records()
