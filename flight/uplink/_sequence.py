"""The highest accepted patch sequence number, in its own CRC-protected, atomically written record.

Why its own record: a patch must carry a sequence number above every one accepted before (no
replay, no rollback to an old patch), and a power cut must not reopen a replay. The record is
16 bytes, magic b"SEQ1" | u64 sequence | CRC-32C u32 of the first 12, written by temp file, fsync,
`os.replace`, fsync of the folder: after a cut it holds the old value or the new one.

A missing record means no patch was ever accepted (0). A record that is present but unreadable
fails closed: `highest()` raises PatchRejected(SEQUENCE_RECORD_CORRUPT) and every patch is refused
until the ground repairs the store.
"""

from __future__ import annotations

import struct
from pathlib import Path

from .._crc import crc32c
from ._durable import replace_file
from ._patch import PatchRejected, RejectReason

RECORD_FILE = "uplink-sequence"
_MAGIC = b"SEQ1"
_RECORD = struct.Struct(">4sQI")


def encode_record(sequence: int) -> bytes:
    head = struct.pack(">4sQ", _MAGIC, sequence)
    return head + struct.pack(">I", crc32c(head))


class SequenceRecord:
    def __init__(self, root: Path | str):
        self.path = Path(root) / RECORD_FILE

    def highest(self) -> int:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise PatchRejected(RejectReason.SEQUENCE_RECORD_CORRUPT, f"{self.path.name}: unreadable ({exc.strerror})") from None
        if len(raw) != _RECORD.size:
            raise PatchRejected(RejectReason.SEQUENCE_RECORD_CORRUPT, f"{self.path.name}: {len(raw)} bytes, expected {_RECORD.size}")
        magic, sequence, crc = _RECORD.unpack(raw)
        if magic != _MAGIC or crc != crc32c(raw[:12]):
            raise PatchRejected(RejectReason.SEQUENCE_RECORD_CORRUPT, f"{self.path.name}: magic or CRC-32C wrong")
        return sequence

    def accept(self, sequence: int) -> None:
        """Record `sequence` durably; it must be above the current value (never goes backwards)."""
        current = self.highest()
        if sequence <= current:
            raise PatchRejected(RejectReason.REPLAYED_SEQUENCE, f"sequence {sequence}, highest accepted {current}")
        replace_file(self.path, encode_record(sequence))
