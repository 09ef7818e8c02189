"""The model manager: which model flies, on which replicas, and the long work of changing that.

Responsibility: the slot store and the flying stack (model, replicas, engine, scrubber); booting a
slot, rebuilding one replica, reloading the model, rolling back, recovering from SAFE, quarantining
a replica. Booting is long, so it runs as a `BootJob` a byte budget per health slot while the
vehicle keeps flying, and a finished stack is swapped in only at the next cycle boundary.

State: the store, the active slot, the stack, the replica ids still in the vote, at most one job in
progress and at most one finished result waiting for the boundary.
Counters (`statistics()`): replica rebuilds, model reloads, rollbacks, corrupt active records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .._errors import ExecutiveInternalError, SeuguardError
from .._instruments import Instrument
from ..engine._replica import Replica
from ..engine._scrubber import Scrubber, ScrubStatistics
from ..engine._tmr import EngineStatistics, Redundancy, Scheduling, TMREngine
from ..storage._store import SLOTS, SlotStore, other
from ._boot import BootJob, FlightStack, boot_stages, open_stages, replica_stages
from ._config import FlightConfig
from ._events import EventId
from ._housekeeping import fold, record
from ._telemetry import Telemetry

Done = Callable[[str], None]  # called at the cycle boundary with '' (installed) or the failure


@dataclass(frozen=True)
class ModelStatistics:
    active_slot: int  # 0 A, 1 B, 255 none flying
    replicas_in_vote: int  # bit mask of replica ids
    replica_rebuilds: int
    model_reloads: int
    rollbacks: int
    active_record_faults: int
    boot_in_progress: bool


class ModelManager:
    def __init__(self, store: SlotStore, config: FlightConfig, telemetry: Telemetry,
                 instruments: Sequence[Instrument], redundancy: Redundancy, scheduling: Scheduling):
        self.store = store
        self.config = config
        self.telemetry = telemetry
        self.instruments = list(instruments)
        self.redundancy = redundancy
        self.scheduling = scheduling
        self.scrub_budget = config.schedule.scrub_budget_bytes
        self.slot: str | None = None
        self.stack: FlightStack | None = None
        self.in_vote: list[int] = []
        self.job: BootJob | None = None
        self._finished: BootJob | None = None
        self._record_faults_seen = store.active_record_faults
        self.on_install: list[Callable[[FlightStack], None]] = []  # told of every stack installed
        self.reset_statistics()

    def reset_statistics(self) -> None:
        """Zero the counters (RESET_COUNTERS), the live engine's and scrubber's included."""
        self.replica_rebuilds = self.model_reloads = self.rollbacks = self.active_record_faults = 0
        self._retired_engine: dict[str, Any] = {}
        self._retired_scrub: dict[str, Any] = {}
        if self.stack is not None:
            self.stack.engine.reset_statistics()
            self.stack.scrubber.reset_statistics()

    def _retire(self) -> None:
        """Fold the live engine's and scrubber's counters into the totals before replacing them."""
        if self.stack is not None:
            fold(self._retired_engine, self.stack.engine.statistics())
            fold(self._retired_scrub, self.stack.scrubber.statistics())

    def engine_totals(self) -> EngineStatistics:
        """The engine counters since the last reset, over every engine flown (suspects by replica id)."""
        totals = dict(self._retired_engine)
        if self.stack is not None:
            fold(totals, self.stack.engine.statistics())
        return record(EngineStatistics, totals)

    def scrub_totals(self) -> ScrubStatistics:
        totals = dict(self._retired_scrub)
        if self.stack is not None:
            fold(totals, self.stack.scrubber.statistics())
        return record(ScrubStatistics, totals)

    def set_scrub_budget(self, budget: int) -> None:
        self.scrub_budget = budget
        if self.stack is not None:
            self.stack.scrubber.budget_bytes = budget

    def statistics(self) -> ModelStatistics:
        return ModelStatistics(
            active_slot=SLOTS.index(self.slot) if self.slot else 255,
            replicas_in_vote=sum(1 << r for r in self.in_vote),
            replica_rebuilds=self.replica_rebuilds, model_reloads=self.model_reloads,
            rollbacks=self.rollbacks, active_record_faults=self.active_record_faults,
            boot_in_progress=self.job is not None or self._finished is not None,
        )

    @property
    def busy(self) -> bool:
        return self.job is not None or self._finished is not None

    def active(self) -> str:
        """The store's active slot. A corrupt record is an event and a counter (a store that never
        had a record, freshly laid out, is not a fault: it flies slot A)."""
        slot = self.store.active()
        if self.store.active_record_faults != self._record_faults_seen:
            self._record_faults_seen = self.store.active_record_faults
            why = self.store.last_active_record_fault
            if why == "missing":  # a freshly laid-out store: nothing was ever recorded
                return slot
            self.active_record_faults += 1
            self.telemetry.event(EventId.ACTIVE_RECORD_CORRUPT_ERR, f"active record {why}; slot A assumed")
        return slot

    # --- booting ------------------------------------------------------------------------------

    def _stages(self, slot: str):
        model_dir = self.store.slot_dir(slot)
        if model_dir is None:
            return _refuse(f"slot {slot} is empty")
        engine = self.config.engine
        return boot_stages(model_dir, redundancy=self.redundancy, scheduling=self.scheduling,
                           max_reexecutions=engine.max_reexecutions, scrub_budget_bytes=self.scrub_budget,
                           instruments=self.instruments, watchdog_s=engine.watchdog_ms / 1000.0)

    def boot_now(self, slot: str) -> str:
        """Boot and install `slot` at once (start-up only: nothing flies yet). '' or the reason."""
        job = BootJob(self._stages(slot), what=f"slot {slot}")
        while not job.step(1 << 62):
            pass
        return self._install_job(job, slot)

    def boot_slots(self, slots: Sequence[str], on_done: Done, quiet: bool = False) -> None:
        """Boot the first slot of `slots` that verifies, in the background; `on_done(failure)`
        at the boundary where it was installed (or every slot failed). Each failing slot is an
        event unless `quiet` (the caller reports the failure its own way, once)."""
        def stages():
            failures = []
            for slot in slots:
                job = BootJob(self._stages(slot))
                while not job.finished:  # one stage of the slot's boot per stage of this job
                    before = job.bytes_done
                    job.step(1)
                    yield max(job.bytes_done - before, 1)
                if not job.failure:
                    return slot, job.result
                if not quiet:
                    self.telemetry.event(EventId.BOOT_FAILED_ERR, f"slot {slot}: {job.failure}")
                failures.append(f"slot {slot}: {job.failure}")
            raise _Refused("; ".join(failures))

        self._start(BootJob(stages(), lambda job: on_done(self._install_result(job)), f"slots {slots}"))

    def rebuild_replica(self, rid: int, on_done: Done) -> None:
        """Rebuild one replica's image and session from storage, in the background."""
        stack = self.stack
        if stack is None:
            raise ExecutiveInternalError("rebuild without a stack")

        def stages():
            model = yield from open_stages(stack.model.directory)
            replica = yield from replica_stages(model, rid, False, set())
            return replica

        def done(job: BootJob) -> None:
            if job.failure or self.stack is not stack:
                return on_done(job.failure or "stack replaced during the rebuild")
            stack.replicas[rid] = job.result  # type: ignore[assignment]
            self.replica_rebuilds += 1
            self.rebuild_engine()
            on_done("")

        self._start(BootJob(stages(), done, f"replica {rid}"))

    def _start(self, job: BootJob) -> None:
        if self.busy:
            raise ExecutiveInternalError(f"a job is already running ({self.job.what if self.job else 'done'})")
        self.job = job

    def step(self, budget_bytes: int) -> None:
        """Advance the job in progress by one budget (a health slot)."""
        if self.job is not None and self.job.step(budget_bytes):
            self._finished, self.job = self.job, None

    def boundary(self) -> None:
        """At a cycle boundary: a finished job is installed (or refused) now, never mid-frame."""
        job, self._finished = self._finished, None
        if job is not None and job.on_done is not None:
            job.on_done(job)

    def _install_result(self, job: BootJob) -> str:
        if job.failure:
            return job.failure
        slot, stack = job.result  # type: ignore[misc]
        self.install(stack, slot)
        return ""

    def _install_job(self, job: BootJob, slot: str) -> str:
        if job.failure:
            self.telemetry.event(EventId.BOOT_FAILED_ERR, f"slot {slot}: {job.failure}")
            return job.failure
        self.install(job.result, slot)  # type: ignore[arg-type]
        return ""

    def install(self, stack: FlightStack, slot: str) -> None:
        """Switch to a verified stack; the old one is closed."""
        if stack is not self.stack:
            self._retire()
        old, self.stack, self.slot = self.stack, stack, slot
        self.in_vote = [r.index for r in stack.replicas]
        if old is not None and old is not stack:
            old.close()
        for listener in self.on_install:
            listener(stack)
        self.telemetry.event(EventId.BOOT_INF, f"slot {slot}: {stack.boot.model} {stack.boot.version}"
                             + (f"; not live: {','.join(stack.boot.not_live)}" if stack.boot.not_live else ""))

    def drop(self) -> None:
        """Nothing flies any more (SAFE); the store's active record still names the slot to retry."""
        self._cancel()
        if self.stack is not None:
            self._retire()
            self.stack.close()
        self.stack, self.slot, self.in_vote = None, None, []

    # --- the stack in flight --------------------------------------------------------------------

    def rewind(self) -> None:
        """The flying stack as it booted, without storage or self-tests (a campaign's next episode):
        images repaired against their CRCs, every replica back in the vote, a fresh engine and scrub
        cursor. The caller installs it again."""
        self._cancel()
        stack = self.stack
        if stack is None:
            raise ExecutiveInternalError("rewind without a stack")
        self.in_vote = [r.index for r in stack.replicas]
        self.rebuild_engine()
        stack.scrubber.scrub_all()
        stack.engine.reset_statistics()
        stack.scrubber.reset_statistics()
        self.reset_statistics()

    def quarantine(self, rid: int) -> int:
        """Take a replica out of the vote; return how many remain."""
        self.in_vote.remove(rid)
        if len(self.in_vote) >= 2:
            self.rebuild_engine()
        return len(self.in_vote)

    def rebuild_engine(self) -> None:
        """A new engine and scrubber over the replicas still in the vote."""
        stack = self.stack
        if stack is None:
            raise ExecutiveInternalError("rebuild without a stack")
        self._retire()
        stack.engine.close()
        replicas: list[Replica] = [r for r in stack.replicas if r.index in self.in_vote]
        redundancy = self.redundancy if len(replicas) == self.redundancy.replicas else (
            Redundancy.DUPLEX if len(replicas) == 2 else Redundancy.SIMPLEX)
        engine = self.config.engine
        stack.engine = TMREngine(replicas, redundancy, self.scheduling, engine.max_reexecutions,
                                 self.instruments, engine.watchdog_ms / 1000.0)
        stack.scrubber = Scrubber([r.image for r in replicas], lambda c, m=stack.model: m.reload_chunk(c.tensor, c.tensor_chunk), self.scrub_budget,
                                  self.instruments, [r.index for r in replicas])
        stack.engine.repair = stack.scrubber.repair_replica

    def _cancel(self) -> None:
        """Abandon the job in progress and any finished result not yet installed."""
        if self.job is not None:
            self.job.cancel()
        if self._finished is not None and isinstance(self._finished.result, tuple):
            self._finished.result[1].close()
        self.job = self._finished = None

    def close(self) -> None:
        self._cancel()
        if self.stack is not None:
            self.stack.close()


class _Refused(SeuguardError):
    pass


def _refuse(reason: str):
    """Stages that refuse at once (an empty slot)."""
    raise SeuguardError(reason)
    yield 0  # pragma: no cover - makes this a generator
