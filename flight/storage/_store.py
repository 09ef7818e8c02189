"""Onboard model storage: slots A and B and the `active` record, as cFE double-buffered tables.

A store is a folder `root/` holding `A/` and `B/` (each a model folder) and `active`, a small record
naming the active slot, protected by its own CRC-32C and written atomically (`atomic_write_bytes`:
temp file, fsync, `os.replace`, fsync of the folder) so a reset mid-write leaves either the old or
the new record.

A record that cannot be trusted (missing, unreadable, truncated, not JSON, wrong fields, CRC
mismatch, unknown slot) reads as slot A, and is counted in `active_record_faults` with its reason in
`last_active_record_fault`: the executive turns those into an event and a housekeeping counter.

`SlotStore.single(model_dir)` is a store of one read-only model in slot A, for `flight fly --model`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .._crc import crc32c
from .._errors import ManifestError
from ._atomic import atomic_write_bytes

ACTIVE_FILE = "active"

SLOTS = ("A", "B")


def other(slot: str) -> str:
    return "B" if slot == "A" else "A"


class SlotStore:
    def __init__(self, root: Path | None, single: Path | None = None, pinned_active: str | None = None):
        self.root = Path(root) if root is not None else None
        self._single = Path(single) if single is not None else None
        # A pinned store (replay) reads the slots but keeps its active record in memory only.
        self._pinned = pinned_active is not None
        self._active_in_memory = pinned_active or "A"
        self.active_record_faults = 0  # times the active record was untrustworthy and A was assumed
        self.last_active_record_fault: str | None = None  # why, the last time: e.g. "CRC-32C mismatch"

    @classmethod
    def single(cls, model_dir: Path | str) -> "SlotStore":
        return cls(None, single=Path(model_dir))

    @classmethod
    def open(cls, root: Path | str) -> "SlotStore":
        root = Path(root)
        if not root.is_dir():
            raise ManifestError(f"{root}: model store folder does not exist")
        return cls(root)

    def pinned(self, active: str) -> "SlotStore":
        """The same slots with the active record held in memory from `active` (for replay: never
        writes to the flight's store, and starts from the slot the recorded flight started on)."""
        if active not in SLOTS:
            raise ManifestError(f"active slot must be A or B, got {active!r}")
        return SlotStore(self.root, self._single, pinned_active=active)

    def fingerprint(self) -> dict[str, str | None]:
        """sha256 over each slot's files (None for an empty slot): what a replay must find again."""
        out: dict[str, str | None] = {}
        for slot in SLOTS:
            d = self.slot_dir(slot)
            if d is None:
                out[slot] = None
                continue
            h = hashlib.sha256()
            for name in sorted(p.name for p in d.iterdir() if p.is_file()):
                h.update(name.encode() + b"\0" + (d / name).read_bytes())
            out[slot] = h.hexdigest()
        return out

    def slot_dir(self, slot: str) -> Path | None:
        if slot not in SLOTS:
            raise ValueError(f"slot must be A or B, got {slot!r}")
        if self._single is not None:
            return self._single if slot == "A" else None
        path = self.root / slot
        return path if path.is_dir() else None

    def describe(self, slot: str) -> str:
        d = self.slot_dir(slot)
        return f"slot {slot} ({d})" if d is not None else f"slot {slot} (empty)"

    def active(self) -> str:
        """The active slot; A when the record cannot be trusted (counted, with its reason)."""
        if self.root is None or self._pinned:
            return self._active_in_memory
        slot, fault = read_active_record(self.root / ACTIVE_FILE)
        if fault is None:
            return slot
        self.active_record_faults += 1
        self.last_active_record_fault = fault
        return "A"

    def set_active(self, slot: str) -> None:
        """Record the active slot atomically; a crash leaves the old record or the new one."""
        if slot not in SLOTS:
            raise ValueError(f"slot must be A or B, got {slot!r}")
        if self.root is None or self._pinned:
            self._active_in_memory = slot
            return
        atomic_write_bytes(self.root / ACTIVE_FILE, encode_active_record(slot))


def encode_active_record(slot: str) -> bytes:
    return json.dumps({"slot": slot, "crc32c": crc32c(slot.encode())}).encode()


def read_active_record(path: Path) -> tuple[str, None] | tuple[None, str]:
    """(slot, None) for a good record, else (None, reason): one reason per way a record goes bad."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except OSError as exc:
        return None, f"unreadable ({exc.strerror})"
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is one
        if any(encode_active_record(s).startswith(data) for s in SLOTS):  # a write cut short
            return None, f"truncated ({len(data)} bytes)"
        return None, "not JSON"
    if not isinstance(record, dict) or not isinstance(record.get("slot"), str) or not isinstance(
        record.get("crc32c"), int
    ):
        return None, "not an active-slot record"
    slot, crc = record["slot"], record["crc32c"]
    if crc != crc32c(slot.encode()):
        return None, "CRC-32C mismatch"
    if slot not in SLOTS:
        return None, f"unknown slot {slot[:8]!r}"
    return slot, None
