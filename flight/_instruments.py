"""Instruments: the hook points where observers (tests, fault injection) reach inside.

`flight` defines the points; `fault_injection` provides instruments that flip bits at them. That is
how the harness can touch any byte a radiation strike could, without `flight` importing it. Every
hook is a no-op here; subclass and override what you need. Engine and scrubber hooks run in the
thread that runs the replica, so an instrument touching one replica touches only that replica's
state.

The executive hooks see the `Executive`: its replicas (`executive.replicas`, by id), the reference
CRC table (`executive.crc_references`), counters (`executive.housekeeping()`), the model store
(`executive.models.store`), the mode. The engine hooks see the `TMREngine` and one `Replica`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # types only: the engine must not import the executive at run time
    from .engine._replica import Replica
    from .engine._scrubber import Scrubber, ScrubReport
    from .engine._tmr import TMREngine
    from .engine._voter import VoteResult
    from .executive._executive import Executive


class Instrument:
    def cycle_start(self, cycle: int, executive: "Executive") -> None:
        """Before a control cycle's first task (after a finished boot was swapped in)."""

    def frame_captured(self, executive: "Executive", frame: list[np.ndarray]) -> None:
        """After the sensor frame was checked and its CRC taken, before fan-out to the replicas:
        a change here is a common-mode fault that the frame CRC must catch."""

    def before_replica(self, engine: "TMREngine", replica: "Replica", inputs: list[np.ndarray]) -> None:
        """Before one replica runs; may change that replica's image or its copy of the inputs."""

    def after_replica(self, engine: "TMREngine", replica: "Replica", outputs: list[np.ndarray]) -> None:
        """After one replica ran; may change its outputs (an upset during computation)."""

    def after_vote(self, engine: "TMREngine", result: "VoteResult") -> None:
        """After the vote of one attempt."""

    def after_scrub(self, scrubber: "Scrubber", report: "ScrubReport") -> None:
        """After one scrub step."""

    def cycle_end(self, cycle: int, executive: "Executive") -> None:
        """After the cycle's last task, its housekeeping and its digest update: a fault that strikes
        between frames (or an observer reading the frame's final state)."""
