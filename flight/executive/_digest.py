"""The telemetry digest: one sha256 over everything a cycle decided, so runs can be compared.

Each cycle contributes its cycle number, the input frame's bytes, the voted outputs' bytes (or a
marker for a detected unrecoverable result) and every counter, packed little-endian in a fixed
order. Wall-clock time never enters it, nor does the scheduling mode: the same inputs, seed and
configuration give the same digest.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Iterable, Sequence

import numpy as np


class TelemetryDigest:
    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.cycles = 0

    def update(
        self,
        cycle: int,
        inputs: Sequence[np.ndarray],
        outputs: Sequence[np.ndarray] | None,
        counters: Iterable[int],
    ) -> None:
        h = self._h
        h.update(struct.pack("<Q", cycle))
        for arr in inputs:
            h.update(np.ascontiguousarray(arr).tobytes())
        if outputs is None:
            h.update(b"\x00DUE")
        else:
            h.update(b"\x01")
            for arr in outputs:
                h.update(np.ascontiguousarray(arr).tobytes())
        values = list(counters)
        h.update(struct.pack(f"<{len(values)}q", *values))
        self.cycles += 1

    def update_packet(self, packet: bytes) -> None:
        """A deterministic telemetry packet, exactly as it goes down."""
        self._h.update(struct.pack("<I", len(packet)))
        self._h.update(packet)

    def hexdigest(self) -> str:
        return self._h.hexdigest()
