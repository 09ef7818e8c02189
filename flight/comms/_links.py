"""Links: how packets reach the flight and leave it.

`UdpLink` (loopback ports, the real thing) and `QueueLink` (in-process queues, for tests and
embedding) both satisfy `Link`, so `flight serve`'s loop runs over either.
"""

from __future__ import annotations

import queue
import socket
from typing import Any, Protocol

MAX_DATAGRAM = 65535


class Link(Protocol):
    def receive(self) -> list[tuple[bytes, Any]]:
        """Every telecommand waiting now, each with the address to reply to (or None)."""

    def send(self, packet: bytes) -> None:
        """One telemetry packet to the telemetry destination."""

    def reply(self, packet: bytes, address: Any) -> None:
        """One verification report back to the sender of its telecommand."""


class UdpLink:
    """Telecommands in on one loopback port, telemetry out to another."""

    def __init__(self, host: str, tc_port: int, tm_port: int):
        self.tm_address = (host, tm_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, tc_port))
        self.sock.setblocking(False)
        self.send_errors = 0

    def receive(self) -> list[tuple[bytes, Any]]:
        packets = []
        while True:
            try:
                data, address = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return packets
            except OSError:  # e.g. ICMP port unreachable reported on this socket: nothing to read
                continue
            packets.append((data, address))

    def _sendto(self, packet: bytes, address) -> None:
        try:
            self.sock.sendto(packet, address)
        except OSError:
            self.send_errors += 1  # nobody listening: telemetry is fire-and-forget, but counted

    def send(self, packet: bytes) -> None:
        self._sendto(packet, self.tm_address)

    def reply(self, packet: bytes, address) -> None:
        if address != self.tm_address:
            self._sendto(packet, address)

    def close(self) -> None:
        self.sock.close()


class QueueLink:
    """In-process link: put telecommands on `uplink`, read telemetry from `downlink`."""

    def __init__(self) -> None:
        self.uplink: queue.Queue[bytes] = queue.Queue()
        self.downlink: queue.Queue[bytes] = queue.Queue()

    def receive(self) -> list[tuple[bytes, Any]]:
        packets = []
        while True:
            try:
                packets.append((self.uplink.get_nowait(), None))
            except queue.Empty:
                return packets

    def send(self, packet: bytes) -> None:
        self.downlink.put(packet)

    def reply(self, packet: bytes, address: Any) -> None:
        pass  # everything already goes down `downlink`

    def close(self) -> None:
        pass
