"""A link simulator: packet loss, bit errors, bandwidth and delay, from one seeded generator.

Used in-process by tests and benchmarks (both directions of a transfer through two `LinkSim`s),
and by `ground uplink --link ...` between the ground's CFDP source and the flight's UDP port.
Time is passed in (`now`, seconds), so a test can run on a clock of its own.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinkProfile:
    loss: float = 0.0  # probability a packet is lost
    ber: float = 0.0  # probability each bit is flipped
    rate_bps: float = 0.0  # bits per second; 0 means unlimited
    delay_s: float = 0.0  # one-way propagation delay

    @classmethod
    def parse(cls, text: str) -> "LinkProfile":
        """'loss=0.1,ber=1e-6,rate=64k,delay=0.25' (any subset; rate takes k/M suffixes)."""
        values: dict[str, float] = {}
        keys = {"loss": "loss", "ber": "ber", "rate": "rate_bps", "delay": "delay_s"}
        for part in filter(None, text.split(",")):
            name, _, value = part.partition("=")
            if name not in keys or not value:
                raise ValueError(f"link setting {part!r}: expected one of {', '.join(k + '=VALUE' for k in keys)}")
            scale = 1.0
            if name == "rate" and value[-1] in "kKmM":
                scale, value = (1e3 if value[-1] in "kK" else 1e6), value[:-1]
            try:
                values[keys[name]] = float(value) * scale
            except ValueError:
                raise ValueError(f"link setting {part!r}: {value!r} is not a number") from None
        profile = cls(**values)
        if not (0 <= profile.loss < 1 and 0 <= profile.ber < 1 and profile.rate_bps >= 0 and profile.delay_s >= 0):
            raise ValueError(f"link settings out of range: {text!r} (0<=loss<1, 0<=ber<1, rate>=0, delay>=0)")
        return profile


@dataclass(frozen=True)
class LinkStatistics:
    sent: int
    bytes_sent: int
    lost: int
    corrupted: int
    delivered: int


class LinkSim:
    """One direction of a link."""

    def __init__(self, profile: LinkProfile, rng: np.random.Generator):
        self.profile = profile
        self.rng = rng
        self._queue: list[tuple[float, int, bytes]] = []
        self._busy_until = 0.0
        self._order = 0
        self._n = dict(sent=0, bytes_sent=0, lost=0, corrupted=0, delivered=0)

    def send(self, packet: bytes, now: float) -> None:
        p = self.profile
        self._n["sent"] += 1
        self._n["bytes_sent"] += len(packet)
        start = max(now, self._busy_until)
        self._busy_until = start + (len(packet) * 8 / p.rate_bps if p.rate_bps else 0.0)
        if p.loss and self.rng.random() < p.loss:
            self._n["lost"] += 1
            return
        if p.ber:
            n_flips = self.rng.binomial(len(packet) * 8, p.ber)
            if n_flips:
                data = bytearray(packet)
                for bit in self.rng.choice(len(packet) * 8, size=n_flips, replace=False):
                    data[bit // 8] ^= 0x80 >> (bit % 8)
                packet = bytes(data)
                self._n["corrupted"] += 1
        heapq.heappush(self._queue, (self._busy_until + p.delay_s, self._order, packet))
        self._order += 1

    def receive(self, now: float) -> list[bytes]:
        """Every packet whose arrival time has come, in arrival order."""
        out = []
        while self._queue and self._queue[0][0] <= now:
            out.append(heapq.heappop(self._queue)[2])
        self._n["delivered"] += len(out)
        return out

    def next_arrival(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def statistics(self) -> LinkStatistics:
        return LinkStatistics(**self._n)
