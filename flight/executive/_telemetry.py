"""Telemetry: every packet the executive sends, numbered, digested and released in order.

Responsibility: stamp packets with the cycle counter and a sequence count, fold the deterministic
ones into the telemetry digest, hold them until a comm slot releases them to the outbox, and log
events through one filter (per id per major frame) so a burst cannot flood the downlink.

State: the sequence count, the digest, generated-but-unreleased packets, the outbox, the last events.
Counters (`statistics()`): events sent, events suppressed by the filter.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..comms._packets import TmType, encode_event, encode_tm
from ._digest import TelemetryDigest
from ._events import Event, EventId, Severity

EVENTS_PER_ID_PER_MAJOR_FRAME = 8  # event filter: the rest of a burst is counted, not sent
EVENT_LOG = 10_000  # events kept in memory for `flight fly --json` and tests
_EVENT_TM = {Severity.INFO: TmType.EVENT_INFO, Severity.LOW: TmType.EVENT_LOW,
             Severity.MEDIUM: TmType.EVENT_MEDIUM, Severity.HIGH: TmType.EVENT_HIGH}


@dataclass(frozen=True)
class TelemetryStatistics:
    events: int
    events_suppressed: int  # events the per-id filter held back (a burst)


class Telemetry:
    def __init__(self) -> None:
        self.cycle = 0  # set by the scheduler at the start of every frame
        self.digest = TelemetryDigest()
        self.outbox: deque[bytes] = deque()  # released by comm, for the transport
        self.events: deque[Event] = deque(maxlen=EVENT_LOG)
        self._pending: list[bytes] = []
        self._seq = 0
        self._event_budget: dict[EventId, int] = {}
        self.reset_statistics()

    def reset_statistics(self) -> None:
        self._events = self._suppressed = 0

    def statistics(self) -> TelemetryStatistics:
        return TelemetryStatistics(self._events, self._suppressed)

    def packet(self, kind: TmType, data: bytes, deterministic: bool = True) -> None:
        """Generate one packet now; it leaves at the next release."""
        packet = encode_tm(kind, self.cycle, data, self._seq)
        self._seq += 1
        if deterministic:
            self.digest.update_packet(packet)
        self._pending.append(packet)

    def event(self, event_id: EventId, text: str) -> None:
        """Log one event (filtered per id per major frame)."""
        used = self._event_budget.get(event_id, 0)
        if used >= EVENTS_PER_ID_PER_MAJOR_FRAME:
            self._suppressed += 1
            return
        self._event_budget[event_id] = used + 1
        self._events += 1
        self.events.append(Event(self.cycle, event_id, text))
        self.packet(_EVENT_TM[event_id.severity], encode_event(int(event_id), text))

    def end_major_frame(self) -> None:
        self._event_budget.clear()

    def release(self) -> None:
        """Move every generated packet to the outbox (comm slot, and at shutdown)."""
        self.outbox.extend(self._pending)
        self._pending.clear()

    def restart(self) -> None:
        """A fresh digest, sequence count and event log (a new episode of a campaign trial)."""
        self.digest = TelemetryDigest()
        self.outbox.clear()
        self.events.clear()
        self._pending.clear()
        self._seq = 0
        self._event_budget.clear()
        self.reset_statistics()
