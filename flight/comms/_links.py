"""Links: how packets reach the flight and leave it.

`UdpLink` (loopback ports, the real thing) and `QueueLink` (in-process queues, for tests and
embedding) both satisfy `Link`, so `flight serve`'s loop runs over either.
"""

from __future__ import annotations

import queue
import socket
import struct
from typing import Any, Protocol

MAX_DATAGRAM = 65535
# Linux socket options (Python's socket module does not name them): SO_RCVBUFFORCE sets a receive
# buffer past net.core.rmem_max; SO_RXQ_OVFL attaches the kernel's drop count to each datagram.
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
_CMSG_SPACE = socket.CMSG_SPACE(4)
_SO_MEMINFO, _MEMINFO_DROPS, _MEMINFO_BYTES = 55, 8, 9 * 4  # SO_MEMINFO: u32[9], index 8 = drops


class Link(Protocol):
    def receive(self) -> list[tuple[bytes, Any]]:
        """Every telecommand waiting now, each with the address to reply to (or None)."""

    def send(self, packet: bytes) -> None:
        """One telemetry packet to the telemetry destination."""

    def reply(self, packet: bytes, address: Any) -> None:
        """One verification report back to the sender of its telecommand."""


class UdpLink:
    """Telecommands in on one loopback port, telemetry out to another.

    Built for a flood: the receive buffer is sized for one (`RCVBUF_BYTES`, forced past the
    system's cap where the process may), every datagram waiting is drained each frame, and on
    Linux the kernel's count of datagrams it dropped for a full buffer (SO_RXQ_OVFL) is read
    from each receive, so drops are counted instead of invisible."""

    RCVBUF_BYTES = 8 << 20

    def __init__(self, host: str, tc_port: int, tm_port: int):
        self.tm_address = (host, tm_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, option, self.RCVBUF_BYTES)
                break
            except OSError:  # FORCE needs CAP_NET_ADMIN; plain SO_RCVBUF is capped by rmem_max
                continue
        self.rxq_ovfl = False
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, _SO_RXQ_OVFL, 1)
            self.rxq_ovfl = True
        except OSError:
            pass
        self.sock.bind((host, tc_port))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.send_errors = 0
        self.datagrams = 0  # received
        self.kernel_drops = 0  # dropped by the kernel before we could read them (SO_RXQ_OVFL)

    def receive(self) -> list[tuple[bytes, Any]]:
        packets = []
        while True:
            try:
                data, ancdata, _flags, address = self.sock.recvmsg(MAX_DATAGRAM, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                self._read_drops()
                return packets
            except OSError:  # e.g. ICMP port unreachable reported on this socket: nothing to read
                continue
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == _SO_RXQ_OVFL and len(value) >= 4:
                    self.kernel_drops = max(self.kernel_drops, struct.unpack("=I", value[:4])[0])
            self.datagrams += 1
            packets.append((data, address))

    def _read_drops(self) -> None:
        """The socket's drop count now (SO_MEMINFO): SO_RXQ_OVFL only reports drops that happened
        before a datagram that did arrive, so a flood's last drops would wait for the next one."""
        try:
            info = self.sock.getsockopt(socket.SOL_SOCKET, _SO_MEMINFO, _MEMINFO_BYTES)
        except OSError:
            return
        if len(info) >= _MEMINFO_BYTES:
            self.kernel_drops = max(self.kernel_drops, struct.unpack_from("=I", info, _MEMINFO_DROPS * 4)[0])

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
