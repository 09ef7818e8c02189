"""Loopback helpers shared by the tests that run flight serve, the ground tools and the console."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


def free_udp_ports(n: int) -> list[int]:
    """n UDP ports free on loopback right now (bound, read, released)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def udp_port_bound(port: int) -> bool:
    """Whether some process has a UDP socket bound to `port` (read from /proc: no probe socket,
    which could steal the port from the process being waited for)."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(int(line.split()[1].rsplit(":", 1)[1], 16) == port for line in lines):
            return True
    return False


def wait_for(condition, timeout: float, what: str, tick_s: float = 0.001):
    """Wait until `condition()` returns a true value (returned), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        tick.wait(tick_s)
