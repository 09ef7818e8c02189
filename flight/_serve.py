"""`flight serve`: the executive in real time, with telecommands and telemetry over UDP on loopback.

Each minor frame starts on its deadline (`minor_frame_hz`); a frame that starts late counts toward
the jitter statistics and, when a whole frame was lost, the skipped-slot counter. Before each frame
every datagram waiting on the telecommand port is uplinked; after it, released telemetry is sent to
the telemetry port. On SIGTERM or SIGINT the current frame finishes, every queued packet is sent,
and the program exits 0.
"""

from __future__ import annotations

import math
import signal
import socket
import sys
import time
from typing import Callable

from ._executive import Executive
from ._world import World

MAX_DATAGRAM = 65535


class UdpLink:
    """Telecommands in on one loopback port, telemetry out to another."""

    def __init__(self, host: str, tc_port: int, tm_port: int):
        self.tm_address = (host, tm_port)
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind((host, tc_port))
        self.rx.setblocking(False)
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def receive(self) -> list[bytes]:
        packets = []
        while True:
            try:
                data, _ = self.rx.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return packets
            packets.append(data)

    def send(self, packet: bytes) -> None:
        try:
            self.tx.sendto(packet, self.tm_address)
        except OSError:
            pass  # nobody listening (ICMP refused on loopback): telemetry is fire-and-forget

    def close(self) -> None:
        self.rx.close()
        self.tx.close()


def serve(
    executive: Executive,
    world: World,
    link: UdpLink,
    seed: int = 0,
    max_cycles: int = 0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run until SIGTERM/SIGINT (or `max_cycles` if > 0); return the cycles run."""
    stop = False

    def request_stop(signum, frame):
        nonlocal stop
        stop = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    period = executive.schedule.minor_frame_s
    episode = 0
    obs = world.reset(seed)
    next_start = clock()
    try:
        while not stop and (max_cycles <= 0 or executive.cycle < max_cycles):
            now = clock()
            if now < next_start:
                sleep(next_start - now)
                now = clock()
            lateness = now - next_start
            skipped = int(lateness // period) if lateness >= period else 0
            executive.note_lateness(lateness - skipped * period, skipped)
            next_start += (skipped + 1) * period
            for packet in link.receive():
                executive.uplink(packet)
            result = executive.step([obs])
            obs, _reward, done = world.step(result.action)
            if done:
                episode += 1
                obs = world.reset(seed + episode)
            while executive.outbox:
                link.send(executive.outbox.popleft())
    finally:
        executive.close()  # flushes every generated packet to the outbox
        while executive.outbox:
            link.send(executive.outbox.popleft())
        for s, handler in previous.items():
            signal.signal(s, handler)
    return executive.cycle
