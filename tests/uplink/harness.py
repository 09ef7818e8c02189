"""Test harness: a ground `PatchSender` and a flight `UplinkReceiver` joined by two `LinkSim`s.

Stands in for `flight serve` until the lead wires the receiver into the executive's comm slot:
each round is one flight frame (accept the packets that arrived, step within a budget, send the
replies). Time is wall-clock because cfdp-py 0.7.0's timers are; the timers are short here.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flight import SlotStore
from flight.uplink import LinkTimers, UplinkReceiver
from ground._linksim import LinkProfile, LinkSim
from ground._uplink import PatchSender

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "models" / "lander-discrete"
FINE_TUNED = ROOT / "models" / "lander-discrete-ft"
FAST = LinkTimers(ack_interval_s=0.03, ack_limit=20, nak_interval_s=0.03, nak_limit=60, check_interval_s=0.03)


def make_store(root: Path, model: Path = BASE) -> SlotStore:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(model, root / "A")
    store = SlotStore.open(root)
    store.set_active("A")
    return store


@dataclass
class Transfer:
    delivered: bool
    rounds: int
    bytes_on_link: int
    retransmissions: int
    up: object
    down: object


def pump(sender: PatchSender, receiver: UplinkReceiver, profile: LinkProfile = LinkProfile(),
         seed: int = 0, timeout: float = 20.0, budget: int = 1 << 20, mangle=None) -> Transfer:
    """Run frames until the sender is done and the receiver idle (or `timeout` seconds).
    `mangle(packets) -> packets` may duplicate or reorder what reaches the flight."""
    up_rng, down_rng = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2])
    up, down = LinkSim(profile, up_rng), LinkSim(profile, down_rng)
    start = time.monotonic()
    rounds = 0
    while time.monotonic() - start < timeout:
        rounds += 1
        now = time.monotonic()
        for packet in sender.poll():
            up.send(packet, now)
        arrived = up.receive(now)
        if mangle is not None:
            arrived = mangle(arrived)
        for packet in arrived:
            receiver.accept_packet(packet)
        receiver.step(budget)
        for packet in receiver.outgoing():
            down.send(packet, now)
        for packet in down.receive(now):
            sender.accept(packet)
        if sender.done and not receiver.busy and up.next_arrival() is None:
            break
        if not arrived:
            time.sleep(0.001)
    return Transfer(sender.delivered, rounds, sender.bytes_sent, sender.retransmissions,
                    up.statistics(), down.statistics())


class UdpFlight:
    """A flight-side UDP endpoint around an `UplinkReceiver` (what `flight serve` will do once the
    lead routes APID 0x0C9 to it): one frame per received datagram or millisecond."""

    def __init__(self, receiver: UplinkReceiver, host: str = "127.0.0.1"):
        import socket
        import threading

        self.receiver = receiver
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.001)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._peer = None

    def __enter__(self) -> "UdpFlight":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def _run(self) -> None:
        import socket

        while not self._stop.is_set():
            try:
                data, self._peer = self.sock.recvfrom(65535)
                self.receiver.accept_packet(data)
            except (socket.timeout, TimeoutError, ConnectionRefusedError):
                pass
            self.receiver.step(1 << 20)
            for packet in self.receiver.outgoing():
                if self._peer is not None:
                    try:
                        self.sock.sendto(packet, self._peer)
                    except OSError:
                        pass
