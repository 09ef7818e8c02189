"""Outcome tallies: counts per redundancy mode that shards add up in shard order, plus the per-bit,
per-tensor and per-target tables and a few example records of each outcome."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from flight import Redundancy

from ._models import FaultRecord

OUTCOMES = ("masked", "corrected", "due", "sdc", "crash", "hang")
MISSION_OUTCOMES = ("landed", "crashed", "timed_out")  # the lander's; a world declares its own
MISSION_COUNTERS = ("sdc_events", "due_events", "upsets", "cycles")
EXAMPLES_PER_OUTCOME = 10


def mode_redundancy(mode: str) -> Redundancy:
    return Redundancy("tmr" if mode.startswith("tmr") else mode)


def digest(outputs) -> str:
    if outputs is None:
        return ""
    h = hashlib.sha256()
    for o in outputs:
        h.update(np.ascontiguousarray(o).tobytes())
    return h.hexdigest()[:16]


@dataclass
class ModeTally:
    """Counts for one mode over some trials; shards add up in shard order."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES + ("trials",), 0))
    mission: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MISSION_COUNTERS, 0))
    outcome_names: tuple[str, ...] = ()  # the world's mission outcomes, in report order
    success: str = ""  # the world's success outcome
    by_bit: dict[int, list[int]] = field(default_factory=dict)  # bit -> [trials, sdc]
    by_tensor: dict[str, list[int]] = field(default_factory=dict)
    by_target: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, outcome: str, record: FaultRecord | None, bit: int | None = None, tensor: str | None = None) -> None:
        self.counts[outcome] += 1
        self.counts["trials"] += 1
        sdc = outcome == "sdc"
        if bit is not None:
            b = self.by_bit.setdefault(bit, [0, 0])
            b[0] += 1
            b[1] += sdc
        if tensor is not None:
            t = self.by_tensor.setdefault(tensor, [0, 0])
            t[0] += 1
            t[1] += sdc
        if record is not None:
            tgt = self.by_target.setdefault(record.target, dict.fromkeys(OUTCOMES, 0))
            tgt[outcome] += 1
            kept = self.examples.setdefault(outcome, [])
            if len(kept) < EXAMPLES_PER_OUTCOME:
                kept.append(record.to_dict())

    def merge(self, other: "ModeTally") -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        for k, v in other.mission.items():
            self.mission[k] = self.mission.get(k, 0) + v
        if other.outcome_names and not self.outcome_names:
            self.outcome_names, self.success = other.outcome_names, other.success
        for src, dst in ((other.by_bit, self.by_bit), (other.by_tensor, self.by_tensor)):
            for k, (n, s) in src.items():
                d = dst.setdefault(k, [0, 0])
                d[0] += n
                d[1] += s
        for tgt, c in other.by_target.items():
            d = self.by_target.setdefault(tgt, dict.fromkeys(OUTCOMES, 0))
            for k, v in c.items():
                d[k] += v
        for outcome, recs in other.examples.items():
            kept = self.examples.setdefault(outcome, [])
            kept.extend(recs[: max(0, EXAMPLES_PER_OUTCOME - len(kept))])

    def to_dict(self) -> dict:
        return {"counts": self.counts, "mission": self.mission,
                "by_bit": {str(k): v for k, v in sorted(self.by_bit.items())},
                "by_tensor": dict(sorted(self.by_tensor.items())), "by_target": self.by_target,
                "examples": self.examples, "outcome_names": list(self.outcome_names), "success": self.success}

    @classmethod
    def from_dict(cls, d: dict) -> "ModeTally":
        t = cls()
        t.counts = dict(d["counts"])
        t.mission = dict(d["mission"])
        t.by_bit = {int(k): list(v) for k, v in d["by_bit"].items()}
        t.by_tensor = {k: list(v) for k, v in d["by_tensor"].items()}
        t.by_target = {k: dict(v) for k, v in d["by_target"].items()}
        t.examples = {k: list(v) for k, v in d["examples"].items()}
        t.outcome_names, t.success = tuple(d.get("outcome_names", ())), d.get("success", "")
        return t
