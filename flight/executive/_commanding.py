"""Commanding: telecommands in, verification reports out, one dispatch table in between.

Responsibility: demultiplex arriving packets by APID (telecommands to the queue; another stream,
such as the uplink's file-transfer PDUs, to the sink registered for its APID); in each comm slot,
decode → verify → handle a bounded number of queued telecommands (cFS HS style). Each handler
returns '' (accepted), a refusal text, or None (pending: it calls back when the work is done, for
commands such as ACTIVATE_SLOT whose boot spans many cycles).

Every refusal goes through `reject`: counted once, one verification report, exactly one event.

State: the bounded queue, the handlers, the APID routes, commands pending completion.
Counters (`statistics()`): commands accepted (completed), commands rejected, queue depth.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from .._errors import ExecutiveInternalError
from ..comms._packets import (
    APID,
    Command,
    CommandCode,
    Rejection,
    RejectReason,
    TmType,
    decode_command,
    encode_verification,
)
from ._events import EventId
from ._telemetry import Telemetry

MAX_TC_PER_COMM = 16  # a flood waits for later comm slots instead of stretching one
MAX_TC_QUEUE = 256

# '' accepted, text refused, None pending (the handler calls `done(failure)` later, at a boundary)
Handler = Callable[[Command, Callable[[str], None]], "str | None"]


@dataclass(frozen=True)
class CommandingStatistics:
    cmd_accepted: int
    cmd_rejected: int
    tc_queue_depth: int  # not in housekeeping: when a command arrives is not part of a replay
    tc_kernel_drops: int  # datagrams the link's kernel buffer dropped before they could be read


class Commanding:
    def __init__(self, telemetry: Telemetry, recorder: Any = None):
        self.telemetry = telemetry
        self.recorder = recorder
        self.queue: deque[bytes] = deque()
        self.handlers: dict[CommandCode, Handler] = {CommandCode.NOOP: lambda cmd, done: ""}
        self.routes: dict[int, Callable[[bytes], None]] = {}
        self.reset_statistics()

    def reset_statistics(self) -> None:
        self.accepted = self.rejected = 0
        self._drops_at_reset = getattr(self, "_kernel_drops", 0)
        self._kernel_drops = self._drops_at_reset

    def statistics(self) -> CommandingStatistics:
        return CommandingStatistics(self.accepted, self.rejected, len(self.queue),
                                    self._kernel_drops - self._drops_at_reset)

    def note_link(self, kernel_drops: int) -> None:
        """The link's cumulative count of datagrams the kernel dropped (reported once per frame)."""
        self._kernel_drops = kernel_drops

    def register(self, handlers: dict[CommandCode, Handler]) -> None:
        self.handlers.update(handlers)

    def route(self, apid: int, sink: Callable[[bytes], None]) -> None:
        """Packets on `apid` go to `sink` instead of the telecommand queue (a second stream)."""
        if apid == APID:
            raise ExecutiveInternalError("the telecommand APID cannot be rerouted")
        self.routes[apid] = sink

    def routed(self, packet: bytes) -> bool:
        """True when the packet belongs to another stream (its APID has a sink)."""
        return len(packet) >= 2 and (((packet[0] & 0x07) << 8) | packet[1]) in self.routes

    def uplink(self, packet: bytes) -> None:
        """A packet arrived. Telecommands wait for a comm slot; a full queue refuses at once."""
        packet = bytes(packet)
        if self.routed(packet):
            self.routes[((packet[0] & 0x07) << 8) | packet[1]](packet)
            return
        if len(self.queue) >= MAX_TC_QUEUE:
            self.reject(packet[:4].ljust(4, b"\x00"), RejectReason.QUEUE_FULL,
                        f"{MAX_TC_QUEUE} telecommands already waiting", TmType.REJECTED)
            return
        self.queue.append(packet)

    def step(self) -> None:
        """One comm slot: handle up to MAX_TC_PER_COMM queued telecommands."""
        for _ in range(min(MAX_TC_PER_COMM, len(self.queue))):
            raw = self.queue.popleft()
            if self.recorder is not None:
                self.recorder.telecommand(self.telemetry.cycle, raw)
            self.handle(raw)

    def drain(self) -> None:
        """Handle every queued telecommand now (at shutdown: none leaves without its report)."""
        while self.queue:  # not recorded: no frame follows them for a replay to run
            self.handle(self.queue.popleft())

    def handle(self, raw: bytes) -> Command | Rejection:
        """Decode → verify → handle."""
        decoded = decode_command(raw)
        if isinstance(decoded, Rejection):
            self.reject(decoded.request_id, decoded.reason, decoded.detail, TmType.REJECTED)
            return decoded
        self.telemetry.packet(TmType.ACCEPTED, encode_verification(decoded.request_id))
        handler = self.handlers.get(decoded.code)
        if handler is None:
            raise ExecutiveInternalError(f"no handler for {decoded.code.name}")
        failure = handler(decoded, lambda failure: self._complete(decoded, failure))
        if failure is None:
            return decoded  # the report follows when the work is done
        self._complete(decoded, failure)
        return Rejection(RejectReason.REFUSED, failure, decoded.request_id) if failure else decoded

    def _complete(self, cmd: Command, failure: str) -> None:
        if failure:
            self.reject(cmd.request_id, RejectReason.REFUSED, failure, TmType.FAILED, cmd.code)
            return
        self.accepted += 1
        self.telemetry.packet(TmType.COMPLETED, encode_verification(cmd.request_id))
        self.telemetry.event(EventId.TC_ACCEPTED_DBG, f"{cmd.code.name}{list(cmd.args) if cmd.args else ''}")

    def reject(self, request_id: bytes, reason: RejectReason, detail: str, kind: TmType,
               command: CommandCode | None = None) -> None:
        """The one place a refusal is counted, reported to the ground and logged as an event."""
        self.rejected += 1
        self.telemetry.packet(kind, encode_verification(request_id, int(reason), detail))
        self.telemetry.event(EventId.TC_REJECTED_ERR, f"{reason.name}: {command.name + ': ' if command else ''}{detail}")
