"""Onboard model storage: slots A and B and the `active` record, as cFE double-buffered tables.

A store is a folder `root/` holding `A/` and `B/` (each a model folder) and `active`, a small record
naming the active slot, protected by its own CRC-32C and written atomically (temp file, fsync,
`os.replace`, fsync of the folder) so a reset mid-write leaves either the old or the new record.

`SlotStore.single(model_dir)` is a store of one read-only model in slot A, for `flight fly --model`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .._crc import crc32c
from .._errors import ManifestError

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
        self.active_record_faults = 0  # times the active record was unreadable and A was assumed

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
        if self.root is None or self._pinned:
            return self._active_in_memory
        path = self.root / "active"
        try:
            record = json.loads(path.read_text())
            slot, crc = record["slot"], record["crc32c"]
            if slot in SLOTS and crc == crc32c(slot.encode()):
                return slot
        except (OSError, ValueError, KeyError, TypeError):
            pass
        self.active_record_faults += 1
        return "A"

    def set_active(self, slot: str) -> None:
        """Record the active slot atomically; a crash leaves the old record or the new one."""
        if slot not in SLOTS:
            raise ValueError(f"slot must be A or B, got {slot!r}")
        if self.root is None or self._pinned:
            self._active_in_memory = slot
            return
        data = json.dumps({"slot": slot, "crc32c": crc32c(slot.encode())}).encode()
        fd, tmp = tempfile.mkstemp(prefix=".active.", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.root / "active")
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
