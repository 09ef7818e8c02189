"""Uplink: the onboard receiver of model patches, as one of the executive's components.

Responsibility: give the uplink's file-transfer PDUs (their own APID, routed by commanding) to the
`UplinkReceiver`, step its budgeted verification in each comm slot, queue the CFDP replies for the
transport, turn its events into EventIds, and activate a verified patch automatically when the
configuration says so (otherwise ACTIVATE_SLOT does, by telecommand). The receiver (flight/uplink)
stages only into the inactive slot; switching to it is the model manager's, at a cycle boundary.

Counters (`statistics()`): PDUs, files, refusals, the verification state, the staged slot and the
highest sequence number accepted. cfdp-py's timers run on the wall clock, so a flight with an uplink
is as repeatable as its link, not more; without a receiver every counter is zero.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from ..uplink._transport import UPLINK_APID
from ._commanding import Commanding
from ._events import EventId
from ._health import Health
from ._telemetry import Telemetry

_STATE = {"IDLE": 0, "VERIFYING": 1, "STAGED": 2, "REFUSED": 3}


@dataclass(frozen=True)
class UplinkStatistics:
    uplink_pdus: int
    uplink_files: int
    uplink_refusals: int
    uplink_state: int  # 0 idle, 1 verifying, 2 staged, 3 refused
    uplink_staged_slot: int  # 0 A, 1 B, 255 none
    uplink_highest_sequence: int  # 2^32-1 while the sequence record is corrupt (every patch refused)


class Uplink:
    def __init__(self, receiver: Any, telemetry: Telemetry, health: Health, commanding: Commanding,
                 auto_activate: bool = False, budget_bytes: int = 256 * 1024):
        self.receiver, self.telemetry, self.health = receiver, telemetry, health
        self.auto_activate, self.budget_bytes = auto_activate, budget_bytes
        self.outbox: deque[bytes] = deque()  # CFDP replies for the ground, sent by the transport
        if receiver is not None:
            receiver._on_event = self._event
            commanding.route(UPLINK_APID, self.accept)  # the file-transfer PDUs' own APID

    def _event(self, name: str, text: str) -> None:
        self.telemetry.event(EventId[name], text)

    def accept(self, packet: bytes) -> None:
        self.receiver.accept_packet(packet)

    def step(self) -> None:
        """One comm slot: CFDP timers, verification up to the budget, replies queued."""
        receiver = self.receiver
        if receiver is None:
            return
        receiver.step(self.budget_bytes)
        self.outbox.extend(receiver.outgoing())
        if self.auto_activate and receiver.ready_to_activate and not self.health.models.busy:
            slot = receiver.staged_slot
            refusal = self.health.cmd_activate(slot, self._activated)
            if refusal:
                self._activated(refusal)

    def _activated(self, failure: str) -> None:
        if failure:
            self.telemetry.event(EventId.UPLINK_PATCH_REFUSED_ERR, f"auto-activation refused: {failure}")

    def statistics(self) -> UplinkStatistics:
        if self.receiver is None:
            return UplinkStatistics(0, 0, 0, 0, 255, 0)
        s = self.receiver.statistics()
        return UplinkStatistics(
            uplink_pdus=s.pdus, uplink_files=s.files, uplink_refusals=s.refusals,
            uplink_state=_STATE.get(s.verification, 0), uplink_staged_slot={"A": 0, "B": 1}.get(s.staged_slot, 255),
            uplink_highest_sequence=s.highest_sequence if s.highest_sequence >= 0 else (1 << 32) - 1,
        )
