"""Scrubbing: the scrub task, SCRUB_NOW and SET_SCRUB_BUDGET, and how fresh each image's check is.

Responsibility: step the flying stack's scrubber a byte budget per scrub slot (a full verification
in the next slot after SCRUB_NOW), scrub a suspect replica at once, report every repair as an event,
and keep per replica id the cycle its image was last fully verified. The scrubber itself (engine
layer) does the checking and repairing against the ground's CRCs.

Counters (`statistics()`): the scrubber's totals across every stack flown since the last reset,
the full-pass period at the current budget, and per replica the cycles since its last full check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..comms._packets import CommandCode
from ..engine._scrubber import ChunkRepair
from ._config import Schedule
from ._events import EventId
from ._models import ModelManager
from ._telemetry import Telemetry


@dataclass(frozen=True)
class ScrubbingStatistics:
    bytes_scrubbed: int
    chunks_repaired: int
    chunks_reloaded: int
    chunks_unrepairable: int
    scrub_full_passes: int
    scrub_period_cycles: int  # minor frames one full pass takes at the current budget
    cycles_since_verified: dict[int, int]  # replica id -> minor frames since its last full check


class Scrubbing:
    def __init__(self, schedule: Schedule, models: ModelManager, telemetry: Telemetry):
        self.schedule, self.models, self.telemetry = schedule, models, telemetry
        self._scrub_slots = sum("scrub" in s for s in schedule.slots)
        self._scrub_now = False
        self.verified_at: dict[int, int] = {}
        models.on_install.append(self.stack_installed)

    def statistics(self) -> ScrubbingStatistics:
        totals = self.models.scrub_totals()
        cycle = self.telemetry.cycle
        return ScrubbingStatistics(
            bytes_scrubbed=totals.bytes_scrubbed, chunks_repaired=totals.chunks_repaired,
            chunks_reloaded=totals.chunks_reloaded, chunks_unrepairable=totals.chunks_unrepairable,
            scrub_full_passes=totals.full_passes, scrub_period_cycles=self.period_cycles(),
            cycles_since_verified={rid: cycle - at for rid, at in self.verified_at.items()},
        )

    def period_cycles(self) -> int:
        """Minor frames one full scrub pass takes at the current budget and schedule."""
        stack = self.models.stack
        if stack is None:
            return 0
        steps = stack.scrubber.steps_per_pass(self.models.scrub_budget)
        return math.ceil(steps * self.schedule.minor_frames / self._scrub_slots)

    def stack_installed(self, stack) -> None:
        """A newly installed stack was fully verified when it booted."""
        self.verified_at = {r.index: self.telemetry.cycle for r in stack.replicas}

    def replica_restored(self, rid: int) -> None:
        self.verified_at[rid] = self.telemetry.cycle

    def step(self) -> None:
        stack = self.models.stack
        if stack is None:
            return
        scrubber = stack.scrubber
        if self._scrub_now:
            self._scrub_now = False
            self.report(scrubber.scrub_all())
            completed = True
        else:
            report = scrubber.scrub_step(self.models.scrub_budget)
            self.report(report.repairs)
            completed = report.full_pass_completed
        if completed:
            for rid in self.models.in_vote:
                self.verified_at[rid] = self.telemetry.cycle

    def repair(self, rid: int) -> None:
        stack = self.models.stack
        if stack is not None:
            self.report(stack.scrubber.repair_replica(rid))

    def report(self, repairs) -> None:
        for r in repairs:
            r: ChunkRepair
            where = f"replica {r.replica} tensor {r.tensor} chunk {r.tensor_chunk}"
            if r.method == "unrepairable":
                self.telemetry.event(EventId.CHUNK_UNREPAIRABLE_ERR, where)
            else:
                self.telemetry.event(EventId.CHUNK_REPAIRED_INF, f"{where} by {r.method}")

    # --- commands -------------------------------------------------------------------------------

    def cmd_scrub_now(self, cmd, done) -> str:
        if self.models.stack is None:
            return "no model loaded"
        self._scrub_now = True
        return ""

    def cmd_set_budget(self, cmd, done) -> str:
        self.models.set_scrub_budget(cmd.args[0])
        return ""

    def handlers(self) -> dict:
        return {CommandCode.SCRUB_NOW: self.cmd_scrub_now, CommandCode.SET_SCRUB_BUDGET: self.cmd_set_budget}
