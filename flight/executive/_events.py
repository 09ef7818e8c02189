"""Events: every id a named constant, severity in the name, cause in the docstring.

Severity suffixes follow cFS: _DBG debug, _INF information, _LOW/_MED/_HI anomalies by weight,
_ERR an error the executive handled. Events go down as PUS service 5 telemetry (subtype by severity)
and are part of the deterministic telemetry: they never carry wall-clock values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """PUS service 5 subtypes: 1 informative, 2 low, 3 medium, 4 high severity."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4


class EventId(enum.IntEnum):
    BOOT_INF = 1  # the executive booted a model slot; text names slot, model and version
    BOOT_FAILED_ERR = 2  # a model slot failed verification at boot or recovery; text has the reason
    MODE_TRANSITION_INF = 10  # mode changed; text: FROM -> TO and the reason
    VOTE_CORRECTED_LOW = 20  # a replica was outvoted; text names it
    VOTE_NO_MAJORITY_ERR = 28  # no two replicas agreed after every re-execution; fallback flew
    INPUT_REJECTED_ERR = 29  # a sensor frame failed its CRC or spec; fallback flew
    CHUNK_REPAIRED_INF = 30  # scrubber fixed a chunk; text names replica, tensor, chunk, method
    CHUNK_UNREPAIRABLE_ERR = 31  # majority and storage both failed for a chunk; replica named
    REPLICA_REBUILT_INF = 40  # a replica was rebuilt from storage after repeated suspects
    REPLICA_QUARANTINED_HI = 41  # a replica was taken out of the vote; text names it and why
    REPLICA_DEADLINE_ERR = 42  # the watchdog abandoned a replica run that passed its deadline
    MODEL_RELOADED_INF = 50  # every replica rebuilt from the active slot after repeated failures
    MODEL_ROLLBACK_HI = 51  # switched to the other model slot; text says why
    SLOT_ACTIVATED_INF = 52  # a commanded slot activation succeeded
    # 53 (SLOT_ACTIVATION_FAILED_ERR) is retired: a refused activation is one TC_REJECTED_ERR event
    ACTIVE_RECORD_CORRUPT_ERR = 54  # the store's `active` record was unreadable; slot A was assumed
    UPLINK_FILE_RECEIVED_INF = 70  # a patch arrived whole (CFDP checksum good); verification starts
    UPLINK_TRANSFER_FAILED_LOW = 71  # a transfer was cancelled or abandoned; the ground retries
    UPLINK_PATCH_REFUSED_ERR = 72  # a patch failed a check: reason and detail; quarantined, nothing staged
    UPLINK_PATCH_STAGED_INF = 73  # a verified patch's result sits in the inactive slot, ready to activate
    UPLINK_STORE_RECOVERED_INF = 74  # an interrupted slot swap was undone or finished at start
    TC_ACCEPTED_DBG = 60  # a telecommand was accepted and executed
    TC_REJECTED_ERR = 61  # a telecommand was rejected; text has the reason
    COUNTERS_RESET_INF = 62  # RESET_COUNTERS executed

    @property
    def severity(self) -> Severity:
        suffix = self.name.rsplit("_", 1)[1]
        return {"DBG": Severity.INFO, "INF": Severity.INFO, "LOW": Severity.LOW, "MED": Severity.MEDIUM,
                "HI": Severity.HIGH, "ERR": Severity.HIGH}[suffix]


@dataclass(frozen=True)
class Event:
    cycle: int
    id: EventId
    text: str

    def __str__(self) -> str:
        return f"[{self.cycle}] {self.id.name}: {self.text}"
