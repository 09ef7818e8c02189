"""The ground end of the UDP link: send telecommands, receive and decode telemetry."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from flight import (
    CommandCode,
    PacketError,
    RejectReason,
    TmPacket,
    TmType,
    decode_tm,
    decode_verification,
    encode_command,
)


class GroundLink:
    """One UDP socket: bound to the telemetry port to hear the whole stream (`ground monitor`), or
    to a free port (`tm_port=None`) to hear only the replies to its own commands (`ground
    command`), so both programs can run at once."""

    def __init__(self, host: str, tc_port: int, tm_port: int | None):
        self.tc_address = (host, tc_port)
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind((host, tm_port or 0))
        self.undecodable = 0

    def send(self, packet: bytes) -> None:
        self.rx.sendto(packet, self.tc_address)

    def receive(self, timeout: float) -> TmPacket | None:
        """The next decodable telemetry packet, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.rx.settimeout(remaining)
            try:
                data, _ = self.rx.recvfrom(65535)
            except (socket.timeout, TimeoutError):
                return None
            except ConnectionRefusedError:  # our last command hit a closed port (ICMP): keep waiting
                continue
            try:
                return decode_tm(data)
            except PacketError:
                self.undecodable += 1

    def close(self) -> None:
        self.rx.close()


@dataclass(frozen=True)
class CommandOutcome:
    command: str
    accepted: bool
    completed: bool
    reason: str  # RejectReason name, or '' on success
    detail: str
    cycle: int  # the executive's cycle of the final report (-1 if none arrived)


def send_command(link: GroundLink, code: CommandCode, args: tuple[int, ...], seq_count: int,
                 timeout: float = 5.0, seen: list[TmPacket] | None = None) -> CommandOutcome:
    """Send one telecommand once (commands are not idempotent) and wait for its verification
    reports: acceptance, then completion or failure. Every packet received meanwhile is appended
    to `seen` if given."""
    packet = encode_command(code, args, seq_count)
    request_id = packet[:4]
    accepted = False
    deadline = time.monotonic() + timeout
    link.send(packet)
    while time.monotonic() < deadline:
        tm = link.receive(min(0.1, max(0.0, deadline - time.monotonic())))
        if tm is not None and seen is not None:
            seen.append(tm)
        if tm is None or tm.type not in (TmType.ACCEPTED, TmType.REJECTED, TmType.COMPLETED, TmType.FAILED):
            continue
        try:
            rid, reason, detail = decode_verification(tm.data)
        except PacketError:
            continue
        if rid != request_id:
            continue
        if tm.type is TmType.ACCEPTED:
            accepted = True
        elif tm.type is TmType.COMPLETED:
            return CommandOutcome(code.name, True, True, "", "", tm.cycle)
        else:
            name = RejectReason(reason).name if reason in RejectReason._value2member_map_ else f"reason {reason}"
            return CommandOutcome(code.name, tm.type is TmType.FAILED, False, name, detail, tm.cycle)
    return CommandOutcome(code.name, accepted, False, "TIMEOUT", f"no report within {timeout:g} s", -1)
