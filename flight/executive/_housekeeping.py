"""Housekeeping: the flat record sent once per major frame, filled by field name.

Every component keeps its own frozen statistics record; housekeeping takes each of its fields from
whichever record has a field of that name, so a new counter is one field in a component's record
and one in `Housekeeping` (comms/_packets.py, where its wire type is declared). Per-replica fields
come as {replica id: value} and go down as one value per replica id of the configured redundancy.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Iterable

from .._errors import ExecutiveInternalError
from ..comms._packets import HOUSEKEEPING_FIELDS, Housekeeping


def merged(records: Iterable[object]) -> dict[str, Any]:
    """Every field of every record by name (a name given twice is a wiring mistake)."""
    out: dict[str, Any] = {}
    for record in records:
        for f in fields(record):
            if f.name in out:
                raise ExecutiveInternalError(f"statistics field {f.name} reported twice")
            out[f.name] = getattr(record, f.name)
    return out


def housekeeping(values: dict[str, Any], replicas: int) -> Housekeeping:
    kwargs = {}
    for f in HOUSEKEEPING_FIELDS:
        if f.name not in values:
            raise ExecutiveInternalError(f"no component reports housekeeping field {f.name}")
        value = values[f.name]
        kwargs[f.name] = tuple(int(value.get(r, 0)) for r in range(replicas)) if f.per_replica else int(value)
    return Housekeeping(**kwargs)


_SNAPSHOTS = {"last_full_pass_step"}  # per-stack facts, not counters to add up


def fold(totals: dict[str, Any], record: object) -> None:
    """Add a statistics record's counters into `totals`: integers summed, per-replica dicts summed
    per id; anything else (a snapshot, not a counter) is left out."""
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, bool) or f.name in _SNAPSHOTS:
            continue
        if isinstance(value, int):
            totals[f.name] = totals.get(f.name, 0) + value
        elif isinstance(value, dict):
            merged = dict(totals.get(f.name, {}))
            for key, count in value.items():
                merged[key] = merged.get(key, 0) + count
            totals[f.name] = merged


def record(cls, totals: dict[str, Any]):
    """A statistics record from totals (counters nobody reported yet are zero)."""
    return cls(**{f.name: totals.get(f.name, {} if "dict" in str(f.type) else 0) for f in fields(cls)})
