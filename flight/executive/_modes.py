"""The flight modes and what moves between them: one table, read in one screen.

A (mode, trigger) pair that is not in `TRANSITIONS` is an `ExecutiveInternalError`: health can only
move the way this table says. `Rung` is the model-level escalation ladder, climbed one rung per
escalation (reload, then roll back, then SAFE).
"""

from __future__ import annotations

import enum


class Mode(enum.IntEnum):
    NOMINAL = 0  # every replica votes
    DEGRADED = 1  # a replica is quarantined: the rest vote (duplex with re-execution for TMR)
    SAFE = 2  # no trustworthy model: the fallback controller flies


class Trigger(enum.Enum):
    RESTORED = "a verified model flies on every replica"
    QUARANTINED = "a replica left the vote, two or more remain"
    LOST = "no trustworthy model"
    COMMANDED_SAFE = "SET_MODE SAFE"
    COMMANDED_DEGRADED = "SET_MODE DEGRADED"


N, D, S = Mode.NOMINAL, Mode.DEGRADED, Mode.SAFE
TRANSITIONS: dict[tuple[Mode, Trigger], Mode] = {
    (N, Trigger.RESTORED): N, (D, Trigger.RESTORED): N, (S, Trigger.RESTORED): N,
    (N, Trigger.QUARANTINED): D, (D, Trigger.QUARANTINED): D,
    (N, Trigger.LOST): S, (D, Trigger.LOST): S, (S, Trigger.LOST): S,
    (N, Trigger.COMMANDED_SAFE): S, (D, Trigger.COMMANDED_SAFE): S, (S, Trigger.COMMANDED_SAFE): S,
    (N, Trigger.COMMANDED_DEGRADED): D,
}


class Rung(enum.IntEnum):
    """The model-level ladder, climbed one rung per escalation."""

    RELOAD = 0  # rebuild every replica from the active slot
    ROLLBACK = 1  # boot the other slot
    SAFE = 2  # nothing left: fly the fallback
