"""The scheduler: the cycle counter, the schedule table, and each component's task in its slot.

Responsibility: run one minor frame per `step`, calling the tasks its slot lists in order, timing
each, and sending housekeeping and the timing report once per major frame. Nothing else: what a task
does belongs to its component.

  sense, infer, act  Control      the vehicle is flown every frame (model or fallback)
  scrub              Scrubbing    the weights are checked against the ground's CRCs
  comm               Commanding   telecommands decoded, verified, handled; telemetry released
  health             Health       modes and the escalation ladder; ModelManager's boots advance

Time: the cycle counter is the only clock decisions see. A finished boot is swapped in only at the
cycle boundary. Instruments are called at cycle start, frame captured and cycle end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .._instruments import Instrument
from ..comms._packets import CommandCode, Housekeeping, TimingReport, TmType
from ..engine._tmr import Redundancy, Scheduling
from ..storage._store import SlotStore
from ._boot import FlightStack
from ._commanding import Commanding
from ._config import TASKS, FlightConfig
from ._control import Control
from ._events import EventId
from ._health import Health
from ._modes import Mode
from ._housekeeping import housekeeping, merged
from ._models import ModelManager
from ._scrubbing import Scrubbing
from ._telemetry import Telemetry
from ._timing import Timing
from ._uplink import Uplink

PERCENTILES_EVERY_MAJOR_FRAMES = 10  # the timing report's percentiles refresh every 10th


@dataclass(frozen=True)
class CycleResult:
    cycle: int
    mode: Mode
    action: Any
    outputs: tuple[np.ndarray, ...] | None  # the voted model outputs, None when the fallback flew


class Executive:
    def __init__(
        self,
        store: SlotStore,
        config: FlightConfig,
        actuate: Callable[[list[np.ndarray]], Any],
        fallback: Callable[[list[np.ndarray]], Any],
        instruments: Sequence[Instrument] = (),
        redundancy: str | None = None,
        scheduling: str | None = None,
        recorder: Any = None,
        clock: Callable[[], float] = time.perf_counter,
        stack: FlightStack | None = None,
        uplink: Any = None, auto_activate: bool = False,
    ):
        """Boots the store's active slot (else the other, else SAFE), or flies `stack` booted from it
        without reading storage again. `uplink`: an UplinkReceiver over the same store, built first."""
        self.config, self.schedule = config, config.schedule
        self.redundancy = Redundancy(redundancy or config.engine.redundancy)
        self.scheduling = Scheduling(scheduling or config.engine.scheduling)
        self.instruments = list(instruments)
        self.recorder, self.clock = recorder, clock
        self.cycle = 0
        self.telemetry = Telemetry()
        self.timing = Timing(TASKS, self.schedule.budgets_ms)
        self.models = ModelManager(store, config, self.telemetry, self.instruments, self.redundancy, self.scheduling)
        self.scrubbing = Scrubbing(self.schedule, self.models, self.telemetry)
        self.health = Health(config.health, self.models, self.telemetry, self.scrubbing.replica_restored)
        self.control = Control(self.models, self.health, self.scrubbing, self.telemetry, actuate, fallback,
                               config.engine.watchdog_ms)
        self.commanding = Commanding(self.telemetry, recorder)
        self.uplink_component = Uplink(uplink, self.telemetry, self.health, self.commanding, auto_activate)
        self.commanding.register({CommandCode.RESET_COUNTERS: self._cmd_reset_counters,
                                  **self.health.handlers(), **self.scrubbing.handlers()})
        self._background = {"scrub": self.scrubbing.step, "comm": self._comm, "health": self._health}
        self.uplink = self.commanding.uplink  # a packet arrived: a telecommand, or another APID's stream
        self.flush_telemetry = self.telemetry.release  # every generated packet to the outbox now
        self.note_lateness = self.timing.lateness  # the paced driver: this frame's lateness, frames lost
        self.health.boot(stack)

    # --- the frame ----------------------------------------------------------------------------------

    def step(self, inputs: list[np.ndarray]) -> CycleResult:
        """Run one minor frame on one sensor frame; return the command the vehicle flies."""
        self.cycle += 1
        self.telemetry.cycle = self.cycle
        self.models.boundary()
        if self.recorder is not None:
            self.recorder.frame(self.cycle, inputs)
        for ins in self.instruments:
            ins.cycle_start(self.cycle, self)
        action = None
        for task in self.schedule.tasks(self.cycle):
            t0 = self.clock()
            if task == "sense":
                self.control.sense(inputs)
                if self.control.frame is not None:
                    for ins in self.instruments:
                        ins.frame_captured(self, self.control.frame)
            elif task == "infer":
                self.control.infer()
            elif task == "act":
                action = self.control.act(inputs)
            else:
                self._background[task]()
            self.timing.task(task, self.clock() - t0)
        self.health.end_cycle()
        if self.cycle % self.schedule.minor_frames == 0:
            self.telemetry.packet(TmType.HOUSEKEEPING, self.housekeeping().pack())
            # Wall-clock facts go in their own packet, outside the digest: housekeeping must repeat.
            refresh = self.cycle % (PERCENTILES_EVERY_MAJOR_FRAMES * self.schedule.minor_frames) == 0
            self.telemetry.packet(TmType.TIMING, self.timing.report(refresh).pack(), deterministic=False)
            self.telemetry.end_major_frame()
        outputs = self.control.outputs
        self.telemetry.digest.update(self.cycle, inputs, outputs, (int(self.health.mode),))
        for ins in self.instruments:
            ins.cycle_end(self.cycle, self)
        return CycleResult(self.cycle, self.health.mode, action, outputs)

    def _comm(self) -> None:
        self.commanding.step()
        self.uplink_component.step()
        self.telemetry.release()

    def _health(self) -> None:
        self.health.step()
        self.models.step(self.schedule.boot_budget_bytes)

    # --- counters -------------------------------------------------------------------------------------

    def statistics(self) -> dict[str, Any]:
        """Every component's counters by field name (what housekeeping and `flight fly` are built from)."""
        return merged([self.models.engine_totals(), self.scrubbing.statistics(), self.health.statistics(),
                       self.models.statistics(), self.commanding.statistics(), self.control.statistics(),
                       self.telemetry.statistics(), self.timing.statistics(),
                       self.uplink_component.statistics()]) | {"cycle": self.cycle}

    def housekeeping(self) -> Housekeeping:
        return housekeeping(self.statistics(), self.redundancy.replicas)

    def timing_report(self, refresh: bool = True) -> TimingReport:
        return self.timing.report(refresh)

    def _cmd_reset_counters(self, cmd, done) -> str:
        for component in (self.models, self.commanding, self.control, self.health, self.telemetry, self.timing):
            component.reset_statistics()
        self.telemetry.event(EventId.COUNTERS_RESET_INF, "command, vote and scrub counters reset")
        return ""

    # --- seams for the ground, campaigns and tests -------------------------------------------------

    def reset(self) -> None:
        """Back to the state right after boot, for the next episode of a campaign: counters, digest,
        ladder and scrub cursor restarted; images repaired against their CRCs; every replica back in
        the vote. Storage is not read and the boot self-tests do not run again (unless nothing flies:
        then this boots)."""
        stack = self.models.stack
        self.cycle = self.telemetry.cycle = 0
        self.telemetry.restart()
        self.commanding.queue.clear()
        for component in (self.models, self.commanding, self.control, self.health, self.timing):
            component.reset_statistics()
        self.health.reset_ladder()
        self.health.commanded_safe, self.health.booting, self.health.mode = False, True, Mode.SAFE
        self.models.drop() if stack is None else self.models.rewind()
        self.health.boot(self.models.stack)

    # Read-only views of what faults and observers may target (replicas by id, reference CRCs).
    mode = property(lambda self: self.health.mode)
    stack = property(lambda self: self.models.stack)
    slot = property(lambda self: self.models.slot)
    in_vote = property(lambda self: list(self.models.in_vote))
    replicas = property(lambda self: self.models.stack.replicas if self.models.stack is not None else [])
    crc_references = property(lambda self: self.models.stack.scrubber.chunks if self.models.stack is not None else ())
    events = property(lambda self: self.telemetry.events)
    outbox = property(lambda self: self.telemetry.outbox)
    digest = property(lambda self: self.telemetry.digest)

    def drain_telecommands(self) -> None:
        self.commanding.drain()
        self.telemetry.release()

    def close(self) -> None:
        """Shut down: every generated packet is released to the outbox first (nothing lost)."""
        self.telemetry.release()
        self.models.close()
