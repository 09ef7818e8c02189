"""The voter: exact, element-wise 2-of-N agreement over replica outputs.

Responsibility: decide what the replicas computed, or say that nobody can tell.

- Fast path: all replicas' output bytes equal (the common case, ~0.5 us for a small output).
- Otherwise, per element on unsigned-integer views of the outputs: an element is decided when at
  least two replicas hold exactly the same bits; the voted output takes them. A replica that lost
  any element is a suspect. Two replicas hit in different elements are both outvoted.
- If any element has no two replicas agreeing: no majority, and no output.
- A decided output that is NaN, infinite or outside its spec's range is never emitted as valid
  (the replicas can agree on garbage: a common-mode fault such as a corrupted input).

Never a median or a mean: a flipped exponent bit gives NaN or 1e38, which a median passes through.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..storage._manifest import IOSpec
from ._validate import check_valid


class VoteOutcome(enum.IntEnum):
    UNANIMOUS = 0  # every replica bit-identical
    CORRECTED = 1  # every element decided by a majority; suspects named
    NO_MAJORITY = 2  # some element where no two replicas agree
    INVALID_OUTPUT = 3  # a majority exists but the value is NaN, infinite or out of range


@dataclass(frozen=True)
class VoteResult:
    outcome: VoteOutcome
    outputs: tuple[np.ndarray, ...] | None  # the voted outputs (fresh arrays), or None
    suspects: frozenset[int]  # replica positions that disagreed with the majority somewhere
    reason: str = ""  # for NO_MAJORITY / INVALID_OUTPUT: which output and why

    @property
    def valid(self) -> bool:
        return self.outcome in (VoteOutcome.UNANIMOUS, VoteOutcome.CORRECTED)


_UINT = {1: np.dtype(np.uint8), 2: np.dtype(np.uint16), 4: np.dtype(np.uint32), 8: np.dtype(np.uint64)}
_NO_SUSPECTS: frozenset[int] = frozenset()


def _uint_view(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr).reshape(-1)
    return arr.view(_UINT.get(arr.dtype.itemsize, _UINT[1]))


def vote(
    replica_outputs: Sequence[Sequence[np.ndarray] | None], specs: Sequence[IOSpec] | None = None
) -> VoteResult:
    """Vote over the outputs of N replicas (N = 1, 2 or 3); each entry is one replica's outputs,
    or None for a replica that produced nothing (it crashed or missed its deadline)."""
    n = len(replica_outputs)
    if n == 0:
        raise ValueError("vote needs at least one replica")
    if n == 3 and None not in replica_outputs and len(replica_outputs[0]) == 1:
        # The common case first, with as little Python as possible: one output, all bytes equal.
        a, b, c = (r[0] for r in replica_outputs)
        if len(replica_outputs[1]) == len(replica_outputs[2]) == 1:
            ab = a.tobytes()
            if ab == b.tobytes() == c.tobytes():
                out = (a.copy(),)
                reason = check_valid(out, specs)
                if reason:
                    return VoteResult(VoteOutcome.INVALID_OUTPUT, None, _NO_SUSPECTS, reason)
                return VoteResult(VoteOutcome.UNANIMOUS, out, _NO_SUSPECTS)
    missing = frozenset(i for i, r in enumerate(replica_outputs) if r is None)
    if missing:
        present = [r for r in replica_outputs if r is not None]
        if n < 3 or len(present) < 2:
            return VoteResult(VoteOutcome.NO_MAJORITY, None, missing, "no output from enough replicas")
        sub = vote(present, specs)
        if sub.outcome is not VoteOutcome.UNANIMOUS:
            return VoteResult(
                sub.outcome if sub.outcome is VoteOutcome.INVALID_OUTPUT else VoteOutcome.NO_MAJORITY,
                None, missing, sub.reason or "the remaining replicas disagree")
        return VoteResult(VoteOutcome.CORRECTED, sub.outputs, missing)
    first = replica_outputs[0]
    if all(len(r) == len(first) for r in replica_outputs) and all(
        all(r[k].tobytes() == first[k].tobytes() for k in range(len(first))) for r in replica_outputs[1:]
    ):
        outputs = tuple(np.array(a, copy=True) for a in first)
        reason = check_valid(outputs, specs)
        if reason:
            return VoteResult(VoteOutcome.INVALID_OUTPUT, None, frozenset(), reason)
        return VoteResult(VoteOutcome.UNANIMOUS, outputs, frozenset())
    if n < 3:
        # Two copies that disagree cannot say which one is right.
        return VoteResult(VoteOutcome.NO_MAJORITY, None, frozenset(), "replicas disagree")
    if n != 3:
        raise ValueError("element-wise voting is defined for three replicas")
    voted, suspects = [], set()
    for k in range(len(first)):
        arrays = [r[k] for r in replica_outputs]
        if any(a.shape != arrays[0].shape or a.dtype != arrays[0].dtype for a in arrays):
            return VoteResult(VoteOutcome.NO_MAJORITY, None, frozenset(), f"output {k} shapes differ")
        a, b, c = (_uint_view(x) for x in arrays)
        # The usual corrected case is one replica wrong: settle it with whole-array comparisons.
        if np.array_equal(a, b):
            if not np.array_equal(a, c):
                suspects.add(2)
            voted.append(arrays[0].copy())
            continue
        if np.array_equal(a, c):
            suspects.add(1)
            voted.append(arrays[0].copy())
            continue
        if np.array_equal(b, c):
            suspects.add(0)
            voted.append(arrays[1].copy())
            continue
        ab, ac, bc = a == b, a == c, b == c
        if not (ab | ac | bc).all():
            name = specs[k].name if specs else f"output[{k}]"
            bad = int(np.flatnonzero(~(ab | ac | bc))[0])
            return VoteResult(VoteOutcome.NO_MAJORITY, None, frozenset(), f"{name} element {bad}: no two replicas agree")
        a_ok = ab | ac
        if not a_ok.all():
            suspects.add(0)
        if not (ab | bc).all():
            suspects.add(1)
        if not (ac | bc).all():
            suspects.add(2)
        picked = np.where(a_ok, a, b)
        voted.append(picked.view(arrays[0].dtype).reshape(arrays[0].shape))
    outputs = tuple(voted)
    reason = check_valid(outputs, specs)
    if reason:
        return VoteResult(VoteOutcome.INVALID_OUTPUT, None, frozenset(suspects), reason)
    outcome = VoteOutcome.CORRECTED if suspects else VoteOutcome.UNANIMOUS
    return VoteResult(outcome, outputs, frozenset(suspects))
