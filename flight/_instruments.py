"""Instruments: the hook points where observers (tests, fault injection) reach inside.

`flight` defines the points; `fault_injection` provides instruments that flip bits at them. That is
how the harness can touch any byte a radiation strike could, without `flight` importing it. Every
hook is a no-op here; subclass and override what you need. Hooks run in the thread that runs the
replica, so an instrument touching one replica touches only that replica's state.
"""

from __future__ import annotations

from typing import Any


class Instrument:
    def cycle_start(self, cycle: int, executive: Any) -> None:
        """Before a control cycle's first task; `executive` exposes frames, images and counters."""

    def frame_captured(self, executive: Any, frame: list) -> None:
        """After the sensor frame was captured and its CRC taken, before fan-out to the replicas:
        a change here is a common-mode fault that the frame CRC must catch."""

    def before_replica(self, engine: Any, replica: Any, inputs: list) -> None:
        """Before one replica runs; may change that replica's image or its copy of the inputs."""

    def after_replica(self, engine: Any, replica: Any, outputs: list) -> None:
        """After one replica ran; may change its outputs (an upset during computation)."""

    def after_vote(self, engine: Any, result: Any) -> None:
        """After the vote of one attempt."""

    def after_scrub(self, scrubber: Any, report: Any) -> None:
        """After one scrub step."""
