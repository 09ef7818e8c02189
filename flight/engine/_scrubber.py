"""The scrubber: bounded, resumable checking and repair of every replica's weight image.

Responsibility: find upsets in the weights before they accumulate, and put the ground's bytes back.

- Each `scrub_step(budget)` checks chunks round-robin (chunk k of every image, then chunk k+1) until
  the byte budget is spent, and resumes where it stopped next time (cFS CS style). At least one
  chunk position is checked per step so a small budget still makes progress.
- References are the manifest's CRCs from the ground, never a first pass computed onboard.
- A chunk that fails its CRC is repaired by bitwise majority of the replicas' copies, which is
  re-checked against the reference; if the majority also fails (two replicas hit in one chunk) the
  chunk is reloaded from the model in storage (itself checked by sha256 and CRC). If storage fails
  too, the chunk is counted unrepairable and reported with the replicas it leaves corrupted.
- Repair writes only between replica runs: the engine and scrubber share one control thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .._crc import crc32c
from .._errors import ModelCorrupted
from .._instruments import Instrument
from ._weights import Chunk, WeightImage, majority_bytes


@dataclass(frozen=True)
class ChunkRepair:
    replica: int  # the replica's id
    tensor: str
    tensor_chunk: int
    method: str  # "majority" | "reload" | "unrepairable"


@dataclass(frozen=True)
class ScrubReport:
    bytes_checked: int
    chunks_checked: int
    repairs: tuple[ChunkRepair, ...]
    full_pass_completed: bool


@dataclass(frozen=True)
class ScrubStatistics:
    bytes_scrubbed: int
    chunks_checked: int
    chunks_repaired: int  # replica chunks fixed, by majority or by reload
    chunks_reloaded: int  # of those, fixed from storage
    chunks_unrepairable: int
    full_passes: int
    steps: int
    last_full_pass_step: dict[int, int]  # replica id -> step at which it was last fully verified (-1: never)


@dataclass
class _Cursor:
    position: int = 0
    pass_start_step: int = 0


class Scrubber:
    def __init__(
        self,
        images: Sequence[WeightImage],
        reload: Callable[[Chunk], np.ndarray] | None = None,
        budget_bytes: int = 64 * 1024,
        instruments: Sequence[Instrument] = (),
        replica_ids: Sequence[int] | None = None,
    ):
        if not images:
            raise ValueError("scrubber needs at least one image")
        if budget_bytes <= 0:
            raise ValueError(f"scrub budget must be > 0 bytes, got {budget_bytes}")
        layout = images[0].layout
        if any(img.layout != layout for img in images):
            raise ValueError("images of one scrubber must share a layout")
        self.images = list(images)
        # Reports name replicas by id, never by position in this scrubber.
        self.replica_ids = list(replica_ids) if replica_ids is not None else list(range(len(self.images)))
        if len(self.replica_ids) != len(self.images):
            raise ValueError("one replica id per image")
        self.chunks = layout.chunks
        # Views made once: slicing per check would cost more than the CRC of a small chunk.
        self._views = [[img.chunk_bytes(c) for img in self.images] for c in self.chunks]
        self.reload = reload
        self.budget_bytes = budget_bytes
        self.instruments = list(instruments)
        self._cursor = _Cursor()
        self.reset_statistics()
        self.unrepairable: set[tuple[int, int]] = set()  # (replica id, chunk index) left corrupted

    def reset_statistics(self) -> None:
        self._n = dict(bytes_scrubbed=0, chunks_checked=0, chunks_repaired=0, chunks_reloaded=0,
                       chunks_unrepairable=0, full_passes=0, steps=0)
        self._last_full = {rid: -1 for rid in self.replica_ids}

    def statistics(self) -> ScrubStatistics:
        return ScrubStatistics(**self._n, last_full_pass_step=dict(self._last_full))

    @property
    def pass_bytes(self) -> int:
        """Bytes checked in one full pass over every image."""
        return sum(c.length for c in self.chunks) * len(self.images)

    def steps_per_pass(self, budget_bytes: int | None = None) -> int:
        """How many `scrub_step` calls one full pass takes at this budget (same packing rule)."""
        budget = self.budget_bytes if budget_bytes is None else budget_bytes
        steps, spent, in_step = 0, 0, 0
        for chunk in self.chunks:
            cost = chunk.length * len(self.images)
            if in_step and spent + cost > budget:
                steps, spent, in_step = steps + 1, 0, 0
            spent += cost
            in_step += 1
        return steps + (1 if in_step else 0) or 1

    def scrub_step(self, budget_bytes: int | None = None) -> ScrubReport:
        budget = self.budget_bytes if budget_bytes is None else budget_bytes
        self._n["steps"] += 1
        spent = checked = 0
        repairs: list[ChunkRepair] = []
        completed = False
        if not self.chunks:
            completed = True
        while self.chunks:
            chunk = self.chunks[self._cursor.position]
            cost = chunk.length * len(self.images)
            if checked and spent + cost > budget:
                break
            repairs.extend(self.check_chunk(chunk))
            spent += cost
            checked += 1
            self._cursor.position += 1
            if self._cursor.position == len(self.chunks):
                self._cursor.position = 0
                self._pass_completed()
                completed = True
                break
        self._n["bytes_scrubbed"] += spent
        self._n["chunks_checked"] += checked * len(self.images)
        report = ScrubReport(spent, checked * len(self.images), tuple(repairs), completed)
        for ins in self.instruments:
            ins.after_scrub(self, report)
        return report

    def scrub_all(self) -> list[ChunkRepair]:
        """A full verification and repair of every chunk of every image, now."""
        repairs: list[ChunkRepair] = []
        for chunk in self.chunks:
            repairs.extend(self.check_chunk(chunk))
        self._n["bytes_scrubbed"] += self.pass_bytes
        self._n["chunks_checked"] += len(self.chunks) * len(self.images)
        self._pass_completed()
        return repairs

    def _pass_completed(self) -> None:
        self._n["full_passes"] += 1
        self._last_full = {rid: self._n["steps"] for rid in self.replica_ids}

    def check_chunk(self, chunk: Chunk) -> list[ChunkRepair]:
        """Check one chunk position in every image and repair what fails its reference CRC."""
        views = self._views[chunk.index]
        ref = chunk.crc
        bad = [i for i, v in enumerate(views) if crc32c(v) != ref]
        ids = self.replica_ids
        if not bad:
            for rid in ids:
                self.unrepairable.discard((rid, chunk.index))
            return []
        fixed = None
        method = "majority"
        if len(views) == 3:
            candidate = majority_bytes(*views)
            if crc32c(candidate) == chunk.crc:
                fixed = candidate
        if fixed is None and self.reload is not None:
            method = "reload"
            try:
                fixed = self.reload(chunk)
            except ModelCorrupted:
                fixed = None
            if fixed is not None and crc32c(fixed) != chunk.crc:
                fixed = None
        repairs = []
        for i in bad:
            rid = ids[i]
            if fixed is not None:
                views[i][...] = fixed
            if fixed is None or crc32c(views[i]) != chunk.crc:  # re-check what we wrote
                self._n["chunks_unrepairable"] += 1
                self.unrepairable.add((rid, chunk.index))
                repairs.append(ChunkRepair(rid, chunk.tensor, chunk.tensor_chunk, "unrepairable"))
                continue
            self.unrepairable.discard((rid, chunk.index))
            self._n["chunks_repaired"] += 1
            if method == "reload":
                self._n["chunks_reloaded"] += 1
            repairs.append(ChunkRepair(rid, chunk.tensor, chunk.tensor_chunk, method))
        return repairs

    def repair_replica(self, replica_id: int) -> list[ChunkRepair]:
        """Check every chunk of one replica now (the voter named it a suspect: scrub it at once)."""
        pos = self.replica_ids.index(replica_id)
        repairs: list[ChunkRepair] = []
        for chunk in self.chunks:
            if crc32c(self._views[chunk.index][pos]) != chunk.crc:
                repairs.extend(self.check_chunk(chunk))
        return repairs
