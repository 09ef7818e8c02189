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
    n = 0
    for record in records:
        values = vars(record)  # frozen dataclasses without slots: their fields, in a dict
        n += len(values)
        out.update(values)
    if len(out) != n:
        seen: set[str] = set()
        for record in records:
            twice = seen & set(vars(record))
            if twice:
                raise ExecutiveInternalError(f"statistics field {sorted(twice)[0]} reported twice")
            seen |= set(vars(record))
    return out


_PER_REPLICA = tuple(f.name for f in HOUSEKEEPING_FIELDS if f.per_replica)


def housekeeping(values: dict[str, Any], replicas: int) -> Housekeeping:
    try:
        kwargs = {f.name: values[f.name] for f in HOUSEKEEPING_FIELDS}
    except KeyError as missing:
        raise ExecutiveInternalError(f"no component reports housekeeping field {missing.args[0]}") from None
    for name in _PER_REPLICA:
        kwargs[name] = tuple(kwargs[name].get(r, 0) for r in range(replicas))
    return Housekeeping(**kwargs)


_SNAPSHOTS = {"last_full_pass_step"}  # per-stack facts, not counters to add up


def fold(totals: dict[str, Any], record: object) -> None:
    """Add a statistics record's counters into `totals`: integers summed, per-replica dicts summed
    per id; anything else (a snapshot, not a counter) is left out."""
    for name, value in vars(record).items():
        if isinstance(value, bool) or name in _SNAPSHOTS:
            continue
        if isinstance(value, int):
            totals[name] = totals.get(name, 0) + value
        elif isinstance(value, dict):
            merged = dict(totals.get(name, {}))
            for key, count in value.items():
                merged[key] = merged.get(key, 0) + count
            totals[name] = merged


def record(cls, totals: dict[str, Any]):
    """A statistics record from totals (counters nobody reported yet are zero)."""
    zeros = _ZEROS.get(cls)
    if zeros is None:
        zeros = _ZEROS[cls] = {f.name: {} if "dict" in str(f.type) else 0 for f in fields(cls)}
    return cls(**{name: totals.get(name, zero) for name, zero in zeros.items()})


_ZEROS: dict[type, dict[str, Any]] = {}


# Counters in executive state that an upset may strike (fault injection's typed access to them):
# housekeeping name -> (component attribute of the executive, counter attribute of that component).
COUNTER_CELLS: dict[str, tuple[str, str]] = {
    "cmd_accepted": ("commanding", "accepted"), "cmd_rejected": ("commanding", "rejected"),
    "inputs_rejected": ("control", "inputs_rejected"), "fallback_cycles": ("control", "fallback_cycles"),
    "mode_transitions": ("health", "mode_transitions"), "safe_mode_cycles": ("health", "safe_mode_cycles"),
    "replica_rebuilds": ("models", "replica_rebuilds"), "model_reloads": ("models", "model_reloads"),
    "rollbacks": ("models", "rollbacks"), "overruns": ("timing", "overruns"),
}


def flip_counter_bit(executive: Any, name: str, bit: int) -> None:
    """Flip one bit of one executive counter, as an upset in its memory would."""
    if name not in COUNTER_CELLS or not 0 <= bit < 32:
        raise ValueError(f"counter {name!r} bit {bit}: counters are {', '.join(sorted(COUNTER_CELLS))}, bits 0..31")
    component, attr = COUNTER_CELLS[name]
    owner = getattr(executive, component)
    setattr(owner, attr, getattr(owner, attr) ^ (1 << bit))
