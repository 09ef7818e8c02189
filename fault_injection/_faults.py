"""Fault models as records, and instruments that apply them inside a running flight stack.

A fault is a record (target replica, tensor, element, bit, cycle) so it replays bit-exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flight import Instrument
from flight.engine._weights import BitUndo


@dataclass(frozen=True)
class BitFlip:
    """A single-event upset in one replica's weight image."""

    replica: int
    tensor: str
    element: int
    bit: int

    def apply(self, stack: Any) -> BitUndo:
        """Flip the bit (bounds checked by the image); the record undoes it exactly."""
        return stack.replicas[self.replica].image.flip_bit(self.tensor, self.element, self.bit)


class FlipAtCycle(Instrument):
    """Apply each fault once, at the start of its cycle (upsets then persist until scrubbed)."""

    def __init__(self, faults: dict[int, list[BitFlip]]):
        self.faults = faults
        self.applied: list[tuple[int, BitFlip]] = []

    def cycle_start(self, cycle: int, executive: Any) -> None:
        for fault in self.faults.get(cycle, ()):
            fault.apply(executive)
            self.applied.append((cycle, fault))


class StuckAt(Instrument):
    """A permanent fault: the bit is forced to `value` at every cycle, however often it is repaired."""

    def __init__(self, replica: int, tensor: str, element: int, bit: int, value: int = 1):
        self.replica, self.tensor, self.element, self.bit, self.value = replica, tensor, element, bit, value
        self.first: BitUndo | None = None  # the bytes found before the first forcing: what `remove` restores

    def cycle_start(self, cycle: int, executive: Any) -> None:
        undo = executive.replicas[self.replica].image.set_bit(self.tensor, self.element, self.bit, self.value)
        if self.first is None:
            self.first = undo

    def remove(self, executive: Any) -> None:
        """End the fault: put back the element as it was before the first forcing."""
        if self.first is not None:
            executive.replicas[self.replica].image.undo(self.first)
            self.first = None
