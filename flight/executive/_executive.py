"""The flight executive: a deterministic cyclic schedule around the TMR engine.

Responsibility: run one minor frame per call to `step`, executing the tasks its slot lists (sense,
infer, act, scrub, comm, health) in order; keep the vehicle flown every frame (by the model when a
trustworthy output exists, else by the classical fallback controller); climb the escalation ladder
when the model misbehaves; answer telecommands; emit housekeeping, events and results as PUS
telemetry.

Time: the cycle counter (one minor frame) is the only clock that decisions see. Wall time is measured
per task for overrun and jitter statistics, which go out in a separate timing report that is not part
of the telemetry digest, so the same inputs, seed and configuration give the same telemetry bytes.

Modes: NOMINAL (the configured redundancy over every replica), DEGRADED (one replica quarantined:
duplex with re-execution over the other two), SAFE (no trustworthy model: the fallback flies and the
executive tries to recover every `recovery_period` frames, unless SAFE was commanded).

Escalation ladder, with capped counts in the spirit of cFS HS:
  per replica: repeated suspects (or a chunk nobody can repair) → rebuild it from storage, up to
               `rebuild_limit` times → quarantine it (NOMINAL → DEGRADED);
  per model:   repeated detected-unrecoverable results, or fewer than two replicas left → reload the
               model from the active slot → roll back to the other slot → SAFE.

Counters: `housekeeping()` returns the flat record sent once per major frame; every refusal of a
telecommand is counted once and reported with one event and one verification report.
"""

from __future__ import annotations

import enum
import math
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ._boot import FlightStack, boot
from ._config import TASKS, FlightConfig
from .._crc import crc32c
from .._errors import ExecutiveInternalError, InputRejected, SeuguardError
from ._events import Event, EventId, Severity
from .._instruments import Instrument
from ..comms._packets import (
    Command,
    CommandCode,
    Housekeeping,
    Rejection,
    RejectReason,
    TimingReport,
    TmType,
    decode_command,
    encode_event,
    encode_tm,
    encode_verification,
)
from ..engine._replica import Replica, check_golden
from ..engine._scrubber import ChunkRepair, Scrubber
from ..storage._store import SLOTS, SlotStore, other
from ..storage._model import open_model
from ._digest import TelemetryDigest
from ..engine._tmr import InferenceOutcome, Redundancy, Scheduling, TMREngine
from ..engine._validate import validate_inputs


class Mode(enum.IntEnum):
    NOMINAL = 0
    DEGRADED = 1
    SAFE = 2


PERCENTILES_EVERY_MAJOR_FRAMES = 10  # percentiles over 1000 samples are not free: refreshed every 10th
MAX_TC_PER_COMM = 16  # a flood of telecommands waits for later comm slots instead of stretching one
MAX_TC_QUEUE = 256
MAX_RESULT_BYTES = 4096  # a voted output larger than this goes down as CRC, size and first bytes
EVENTS_PER_ID_PER_MAJOR_FRAME = 8  # event filter: the rest of a burst is counted, not sent
_EVENT_TM = {Severity.INFO: TmType.EVENT_INFO, Severity.LOW: TmType.EVENT_LOW,
             Severity.MEDIUM: TmType.EVENT_MEDIUM, Severity.HIGH: TmType.EVENT_HIGH}


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
    ):
        self.store = store
        self.config = config
        self.schedule = config.schedule
        self.health_config = config.health
        self.redundancy = Redundancy(redundancy or config.engine.redundancy)
        self.scheduling = Scheduling(scheduling or config.engine.scheduling)
        self.actuate = actuate
        self.fallback = fallback
        self.instruments = list(instruments)
        self.recorder = recorder
        self.clock = clock

        self.cycle = 0
        self.mode = Mode.SAFE
        self.slot: str | None = None
        self.stack: FlightStack | None = None
        self.in_vote: list[int] = []  # replica ids (0, 1, 2) that take part in the vote
        self._vote_ids: list[int] = []  # replica id of each position of the current engine/scrubber
        self.commanded_safe = False
        self.scrub_budget = self.schedule.scrub_budget_bytes
        self._scrub_now = False

        self.tc_queue: deque[bytes] = deque()  # uplinked, waiting for a comm slot
        self.outbox: deque[bytes] = deque()  # telemetry released by comm, for the transport
        self._pending: list[bytes] = []  # generated telemetry waiting for a comm slot
        self._tm_seq = 0
        self.digest = TelemetryDigest()
        self.events: deque[Event] = deque(maxlen=10_000)
        self._event_budget: dict[EventId, int] = {}

        self._timing = {t: deque(maxlen=1000) for t in TASKS}
        self._lateness: deque[float] = deque(maxlen=1000)
        self._task_us: tuple[tuple[int, int, int], ...] | None = None
        self._frame_crc = 0
        self._sensed_for: FlightStack | None = None
        self._reset_counters()
        self._reset_health()
        self._booting = True
        self._boot()
        self._booting = False

    # --- counters ---------------------------------------------------------------------------

    def _reset_counters(self) -> None:
        self.n = dict(
            cmd_accepted=0, cmd_rejected=0, inputs_rejected=0, fallback_cycles=0, safe_mode_cycles=0,
            mode_transitions=0, replica_rebuilds=0, model_reloads=0, rollbacks=0, events=0,
            events_suppressed=0, overruns=0, skipped_slots=0,
        )
        self._retired_engine = dict(inferences=0, votes_unanimous=0, votes_corrected=0, votes_failed=0,
                                    reexecutions=0, unrecoverable=0, replica_errors=0, watchdog_timeouts=0)
        self._retired_suspects = [0, 0, 0]
        self._retired_scrub = dict(bytes_scrubbed=0, chunks_repaired=0, chunks_reloaded=0,
                                   chunks_unrepairable=0, full_passes=0)

    def _reset_health(self) -> None:
        """The escalation state: never touched by RESET_COUNTERS (a reset must not lift a cap)."""
        self._suspect_cycles: dict[int, deque[int]] = {r: deque() for r in range(3)}
        self._due_cycles: deque[int] = deque()
        self._rebuilds = [0, 0, 0]
        self._verified_at = [self.cycle] * 3
        self._ladder = 0
        self._last_escalation = self.cycle
        self._last_recovery_attempt = self.cycle

    def _fold_current(self, engine: dict[str, int], suspects: list[int], scrub: dict[str, int]) -> None:
        """Add the live engine's and scrubber's counters into the given totals (by replica id)."""
        if self.stack is None:
            return
        e = self.stack.engine.statistics()
        for k in engine:
            engine[k] += getattr(e, k)
        for pos, count in enumerate(e.suspects):
            suspects[self._vote_ids[pos]] += count
        sc = self.stack.scrubber.statistics()
        for k in scrub:
            scrub[k] += getattr(sc, k)

    def _totals(self) -> tuple[dict[str, int], list[int], dict[str, int]]:
        """Counters since the last reset: those of retired engines and scrubbers plus the live ones."""
        engine, suspects, scrub = dict(self._retired_engine), list(self._retired_suspects), dict(self._retired_scrub)
        self._fold_current(engine, suspects, scrub)
        return engine, suspects, scrub

    def _retire(self) -> None:
        """Fold the live engine's and scrubber's counters into the totals before replacing them."""
        self._fold_current(self._retired_engine, self._retired_suspects, self._retired_scrub)

    def housekeeping(self) -> Housekeeping:
        e, suspects, s = self._totals()
        return Housekeeping(
            cycle=self.cycle,
            mode=int(self.mode),
            active_slot=SLOTS.index(self.slot) if self.slot else 255,
            replicas_in_vote=sum(1 << r for r in self.in_vote) if self.stack is not None else 0,
            cmd_accepted=self.n["cmd_accepted"],
            cmd_rejected=self.n["cmd_rejected"],
            inferences=e["inferences"],
            votes_unanimous=e["votes_unanimous"],
            votes_corrected=e["votes_corrected"],
            votes_failed=e["votes_failed"],
            reexecutions=e["reexecutions"],
            unrecoverable=e["unrecoverable"],
            suspects_0=suspects[0],
            suspects_1=suspects[1],
            suspects_2=suspects[2],
            watchdog_timeouts=e["watchdog_timeouts"],
            inputs_rejected=self.n["inputs_rejected"],
            fallback_cycles=self.n["fallback_cycles"],
            safe_mode_cycles=self.n["safe_mode_cycles"],
            mode_transitions=self.n["mode_transitions"],
            replica_rebuilds=self.n["replica_rebuilds"],
            model_reloads=self.n["model_reloads"],
            rollbacks=self.n["rollbacks"],
            bytes_scrubbed=s["bytes_scrubbed"],
            chunks_repaired=s["chunks_repaired"],
            chunks_reloaded=s["chunks_reloaded"],
            chunks_unrepairable=s["chunks_unrepairable"],
            scrub_full_passes=s["full_passes"],
            scrub_period_cycles=self.scrub_period_cycles(),
            cycles_since_verified_0=self.cycle - self._verified_at[0],
            cycles_since_verified_1=self.cycle - self._verified_at[1],
            cycles_since_verified_2=self.cycle - self._verified_at[2],
            events=self.n["events"],
            events_suppressed=self.n["events_suppressed"],
        )

    def scrub_period_cycles(self) -> int:
        """Minor frames one full scrub pass takes at the current budget and schedule."""
        if self.stack is None:
            return 0
        steps = self.stack.scrubber.steps_per_pass(self.scrub_budget)
        slots = sum("scrub" in s for s in self.schedule.slots)
        return math.ceil(steps * self.schedule.minor_frames / slots)

    def timing_report(self, refresh: bool = True) -> TimingReport:
        """Overrun and skipped-slot counters, and p50/p99/max per task and of frame-start lateness
        in microseconds (the percentiles as of the last refresh)."""
        if refresh or self._task_us is None:
            def stats(samples) -> tuple[int, int, int]:
                if not samples:
                    return (0, 0, 0)
                p50, p99, top = np.percentile(np.fromiter(samples, float) * 1e6, [50, 99, 100])
                return (int(p50), int(p99), int(top))

            self._task_us = tuple(stats(self._timing[t]) for t in TASKS) + (stats(self._lateness),)
        return TimingReport(self.n["overruns"], self.n["skipped_slots"], self._task_us)

    # --- telemetry ----------------------------------------------------------------------------

    def _tm(self, kind: TmType, data: bytes, deterministic: bool = True) -> None:
        packet = encode_tm(kind, self.cycle, data, self._tm_seq)
        self._tm_seq += 1
        if deterministic:
            self.digest.update_packet(packet)
        self._pending.append(packet)

    def event(self, event_id: EventId, text: str) -> None:
        """Log one event (filtered per id per major frame so a burst cannot flood the downlink)."""
        used = self._event_budget.get(event_id, 0)
        if used >= EVENTS_PER_ID_PER_MAJOR_FRAME:
            self.n["events_suppressed"] += 1
            return
        self._event_budget[event_id] = used + 1
        self.n["events"] += 1
        ev = Event(self.cycle, event_id, text)
        self.events.append(ev)
        self._tm(_EVENT_TM[event_id.severity], encode_event(int(event_id), text))

    def flush_telemetry(self) -> None:
        """Release every generated packet to the outbox (comm slot, and at shutdown)."""
        self.outbox.extend(self._pending)
        self._pending.clear()

    def uplink(self, packet: bytes) -> None:
        """A telecommand arrived; it is decoded and handled in the next comm slot. A full queue
        refuses it at once (counted and reported) rather than growing without bound."""
        if len(self.tc_queue) >= MAX_TC_QUEUE:
            self._reject(bytes(packet[:4]).ljust(4, b"\x00"), RejectReason.QUEUE_FULL,
                         f"{MAX_TC_QUEUE} telecommands already waiting", TmType.REJECTED)
            return
        self.tc_queue.append(bytes(packet))

    def drain_telecommands(self) -> None:
        """Handle every queued telecommand now (at shutdown: none leaves without its report)."""
        while self.tc_queue:  # not recorded: no frame follows them for a replay to run
            self.handle_telecommand(self.tc_queue.popleft())
        self.flush_telemetry()

    # --- modes, boot, recovery ----------------------------------------------------------------

    def _set_mode(self, mode: Mode, reason: str) -> None:
        if self._booting:  # leaving boot is an event, not a transition to count
            self.event(EventId.MODE_TRANSITION_INF, f"BOOT -> {mode.name}: {reason}")
            self.mode = mode
            return
        if mode is self.mode:
            return
        self.event(EventId.MODE_TRANSITION_INF, f"{self.mode.name} -> {mode.name}: {reason}")
        self.n["mode_transitions"] += 1
        self.mode = mode

    def _boot_slot(self, slot: str) -> FlightStack:
        model_dir = self.store.slot_dir(slot)
        if model_dir is None:
            raise SeuguardError(f"slot {slot} is empty")
        engine = self.config.engine
        return boot(
            model_dir,
            redundancy=self.redundancy,
            scheduling=self.scheduling,
            max_reexecutions=engine.max_reexecutions,
            scrub_budget_bytes=self.scrub_budget,
            instruments=self.instruments,
            watchdog_s=engine.watchdog_ms / 1000.0,
        )

    def _install(self, stack: FlightStack, slot: str) -> None:
        """Switch to a verified stack at a cycle boundary; the old one is retired."""
        old = self.stack
        self._retire()
        self.stack = stack
        self.slot = slot
        self.in_vote = list(range(len(stack.replicas)))
        self._vote_ids = list(self.in_vote)
        self._verified_at = [self.cycle] * 3
        self._rebuilds = [0, 0, 0]
        self._due_cycles.clear()
        for q in self._suspect_cycles.values():
            q.clear()
        if old is not None:
            old.close()

    def _try_slot(self, slot: str) -> str:
        """Boot `slot` and install it; return '' on success or the reason it failed."""
        try:
            stack = self._boot_slot(slot)
        except SeuguardError as exc:
            self.event(EventId.BOOT_FAILED_ERR, f"slot {slot}: {exc}")
            return str(exc)
        self._install(stack, slot)
        self.event(EventId.BOOT_INF, f"slot {slot}: {stack.boot.model} {stack.boot.version}"
                   + (f"; not live: {','.join(stack.boot.not_live)}" if stack.boot.not_live else ""))
        return ""

    def _boot(self) -> None:
        first = self.store.active()
        if not self._try_slot(first):
            self._set_mode(Mode.NOMINAL, f"booted slot {first}")
            return
        second = other(first)
        if not self._try_slot(second):
            self.n["rollbacks"] += 1
            self.store.set_active(second)
            self.event(EventId.MODEL_ROLLBACK_HI, f"slot {first} failed at boot; flying slot {second}")
            self._set_mode(Mode.NOMINAL, f"booted slot {second}")
            return
        self._enter_safe("no model slot verifies at boot")

    def _enter_safe(self, reason: str) -> None:
        if self.stack is not None:
            self._retire()
            self.stack.close()
            self.stack = None
        self.slot = None  # nothing is flying; the store's active record still names the slot to retry
        self.in_vote = []
        self._vote_ids = []
        self._last_recovery_attempt = self.cycle
        self._set_mode(Mode.SAFE, reason)
        self.mode = Mode.SAFE

    def _rebuild_engine(self) -> None:
        """New engine and scrubber over the replicas still in the vote (after a rebuild or quarantine)."""
        stack = self.stack
        if stack is None:
            raise ExecutiveInternalError("rebuild without a stack")
        self._retire()
        stack.engine.close()
        replicas = [stack.replicas[r] for r in self.in_vote]
        redundancy = self.redundancy if len(replicas) == self.redundancy.replicas else (
            Redundancy.DUPLEX if len(replicas) == 2 else Redundancy.SIMPLEX)
        engine = self.config.engine
        stack.engine = TMREngine(replicas, redundancy, self.scheduling, engine.max_reexecutions,
                                 self.instruments, engine.watchdog_ms / 1000.0)
        stack.scrubber = Scrubber([r.image for r in replicas], stack.model.reload_chunk, self.scrub_budget,
                                  self.instruments)
        self._vote_ids = list(self.in_vote)

    def _rebuild_replica(self, rid: int) -> str:
        """Rebuild one replica's image and session from storage; '' on success, else the reason."""
        stack = self.stack
        try:
            model = open_model(stack.model.directory)
            replica = Replica(rid, model)
            check_golden(replica)
        except SeuguardError as exc:
            return str(exc)
        stack.replicas[rid] = replica
        self._rebuilds[rid] += 1
        self.n["replica_rebuilds"] += 1
        self._suspect_cycles[rid].clear()
        self._verified_at[rid] = self.cycle
        self._rebuild_engine()
        self.event(EventId.REPLICA_REBUILT_INF, f"replica {rid} rebuilt from slot {self.slot} "
                   f"(rebuild {self._rebuilds[rid]} of {self.health_config.rebuild_limit})")
        return ""

    def _quarantine(self, rid: int, reason: str) -> None:
        self.in_vote.remove(rid)
        self.event(EventId.REPLICA_QUARANTINED_HI, f"replica {rid} quarantined: {reason}")
        if len(self.in_vote) >= 2:
            self._rebuild_engine()
            self._set_mode(Mode.DEGRADED, f"replica {rid} quarantined")
        else:
            self._escalate_model(f"replica {rid} quarantined, fewer than two replicas left")

    def _reload_model(self) -> str:
        """Every replica rebuilt from the active slot: '' on success, else the reason."""
        try:
            stack = self._boot_slot(self.slot)
        except SeuguardError as exc:
            return str(exc)
        self._install(stack, self.slot)
        self.n["model_reloads"] += 1
        return ""

    def _escalate_model(self, reason: str) -> None:
        """The model-level ladder: reload → roll back to the other slot → SAFE."""
        self._last_escalation = self.cycle
        if self._ladder == 0 and self.slot is not None:
            self._ladder = 1
            failure = self._reload_model()
            if not failure:
                self.event(EventId.MODEL_RELOADED_INF, f"slot {self.slot} reloaded: {reason}")
                self._set_mode(Mode.NOMINAL, "model reloaded from storage")
                return
            self.event(EventId.BOOT_FAILED_ERR, f"reload of slot {self.slot} failed: {failure}")
        if self._ladder <= 1 and self.slot is not None:
            self._ladder = 2
            target = other(self.slot)
            if not self._try_slot(target):
                self.n["rollbacks"] += 1
                self.store.set_active(target)
                self.event(EventId.MODEL_ROLLBACK_HI, f"rolled back to slot {target}: {reason}")
                self._set_mode(Mode.NOMINAL, f"rolled back to slot {target}")
                return
        self._enter_safe(f"no trustworthy model: {reason}")

    def _recover_from_safe(self) -> None:
        self._last_recovery_attempt = self.cycle
        for slot in (self.store.active(), other(self.store.active())):
            if self.store.slot_dir(slot) is None:
                continue
            if not self._try_slot(slot):
                self._ladder = 0
                self.store.set_active(slot)
                self._set_mode(Mode.NOMINAL, f"recovered on slot {slot}")
                return

    # --- the cycle ------------------------------------------------------------------------------

    @property
    def replicas(self) -> list[Replica]:
        """Every replica by id (quarantined ones included): what instruments reach into."""
        return self.stack.replicas if self.stack is not None else []

    def note_lateness(self, seconds: float, skipped: int = 0) -> None:
        """The paced driver reports how late this frame started, and frames it had to skip."""
        self._lateness.append(seconds)
        self.n["skipped_slots"] += skipped

    def step(self, inputs: list[np.ndarray]) -> CycleResult:
        """Run one minor frame on one sensor frame; return the command the vehicle flies."""
        self.cycle += 1
        if self.recorder is not None:
            self.recorder.frame(self.cycle, inputs)
        for ins in self.instruments:
            ins.cycle_start(self.cycle, self)
        outputs = None
        action = None
        frame_ok = False
        for task in self.schedule.tasks(self.cycle):
            t0 = self.clock()
            if task == "sense":
                frame_ok = self._sense(inputs)
            elif task == "infer":
                outputs = self._infer(inputs) if frame_ok else None
            elif task == "act":
                action = self._act(inputs, outputs)
            elif task == "scrub":
                self._scrub()
            elif task == "comm":
                self._comm()
            elif task == "health":
                self._health()
            dt = self.clock() - t0
            self._timing[task].append(dt)
            if dt * 1000.0 > self.schedule.budgets_ms[task]:
                self.n["overruns"] += 1
        if self.mode is Mode.SAFE:
            self.n["safe_mode_cycles"] += 1
        if self.cycle % self.schedule.minor_frames == 0:
            self._tm(TmType.HOUSEKEEPING, self.housekeeping().pack())
            # Overruns go down every major frame beside housekeeping, in their own packet because
            # they are wall-clock facts and housekeeping must be the same bytes run after run.
            refresh = self.cycle % (PERCENTILES_EVERY_MAJOR_FRAMES * self.schedule.minor_frames) == 0
            self._tm(TmType.TIMING, self.timing_report(refresh).pack(), deterministic=False)
            self._event_budget.clear()
        # Counters enter the digest through the housekeeping packets; per cycle, the decision itself.
        self.digest.update(self.cycle, inputs, outputs, (int(self.mode),))
        return CycleResult(self.cycle, self.mode, action, outputs)

    def _sense(self, inputs: list[np.ndarray]) -> bool:
        """Capture the frame: check it against the input spec and take its CRC before fan-out."""
        try:
            if self.stack is not None:
                validate_inputs(inputs, self.stack.model.manifest.inputs)
            elif not all(isinstance(a, np.ndarray) and (a.dtype.kind != "f" or np.isfinite(a).all()) for a in inputs):
                raise InputRejected("input frame contains NaN or infinity")
        except InputRejected as exc:
            self.n["inputs_rejected"] += 1
            self.event(EventId.INPUT_REJECTED_ERR, str(exc))
            return False
        self._frame_crc = _frame_crc(inputs)
        self._sensed_for = self.stack  # the model whose input spec this frame was checked against
        for ins in self.instruments:
            ins.frame_captured(self, inputs)
        return True

    def _infer(self, inputs: list[np.ndarray]) -> tuple[np.ndarray, ...] | None:
        if self.stack is None or self.mode is Mode.SAFE:
            return None
        if _frame_crc(inputs) != self._frame_crc:
            self.n["inputs_rejected"] += 1
            self.event(EventId.INPUT_REJECTED_ERR, "sensor frame changed between capture and fan-out (CRC)")
            return None
        engine = self.stack.engine
        timeouts_before = engine.watchdog_timeouts
        try:
            result = engine.infer(inputs, validated=self._sensed_for is self.stack)
        except InputRejected as exc:
            self.n["inputs_rejected"] += 1
            self.event(EventId.INPUT_REJECTED_ERR, str(exc))
            return None
        late = engine.watchdog_timeouts - timeouts_before
        if late:
            self.event(EventId.REPLICA_DEADLINE_ERR, f"{late} replica run(s) abandoned at the "
                       f"{self.config.engine.watchdog_ms:g} ms deadline")
        for pos in sorted(result.suspects):
            rid = self._vote_ids[pos]
            self._suspect_cycles[rid].append(self.cycle)
            self.event(EventId.VOTE_CORRECTED_LOW, f"replica {rid} outvoted")
            # A suspect is scrubbed at once: its image is checked and repaired before the next run.
            self._report_repairs(self.stack.scrubber.repair_replica(pos))
        if result.outcome is InferenceOutcome.DETECTED_UNRECOVERABLE:
            self._due_cycles.append(self.cycle)
            self.event(EventId.VOTE_NO_MAJORITY_ERR, f"after {result.attempts} attempts: {result.reason}")
            return None
        return result.outputs

    def _act(self, inputs: list[np.ndarray], outputs) -> Any:
        if outputs is not None:
            action = self.actuate(list(outputs))
            raw = b"".join(np.ascontiguousarray(o).tobytes() for o in outputs)
            if len(raw) <= MAX_RESULT_BYTES:
                data = b"\x01" + raw
            else:  # too big for one packet: its CRC and size, and the first bytes
                data = b"\x02" + struct.pack(">II", crc32c(raw), len(raw)) + raw[:MAX_RESULT_BYTES]
        else:
            self.n["fallback_cycles"] += 1
            action = self.fallback(inputs)
            data = b"\x00"
        self._tm(TmType.RESULT, data)
        return action

    def _report_repairs(self, repairs: list[ChunkRepair]) -> None:
        for r in repairs:
            rid = self._vote_ids[r.replica]
            if r.method == "unrepairable":
                self.event(EventId.CHUNK_UNREPAIRABLE_ERR, f"replica {rid} tensor {r.tensor} chunk {r.tensor_chunk}")
            else:
                self.event(EventId.CHUNK_REPAIRED_INF, f"replica {rid} tensor {r.tensor} chunk {r.tensor_chunk} by {r.method}")

    def _scrub(self) -> None:
        if self.stack is None:
            return
        scrubber = self.stack.scrubber
        if self._scrub_now:
            self._scrub_now = False
            self._report_repairs(scrubber.scrub_all())
            completed = True
        else:
            report = scrubber.scrub_step(self.scrub_budget)
            self._report_repairs(list(report.repairs))
            completed = report.full_pass_completed
        if completed:
            for rid in self.in_vote:
                self._verified_at[rid] = self.cycle

    def _health(self) -> None:
        h = self.health_config
        if self.mode is Mode.SAFE:
            if not self.commanded_safe and self.cycle - self._last_recovery_attempt >= h.recovery_period:
                self._recover_from_safe()
            return
        # Per replica: repeated suspects, or a chunk that neither majority nor storage can repair.
        unrepairable = {self._vote_ids[pos] for pos, _ in self.stack.scrubber.unrepairable}
        for rid in list(self.in_vote):
            recent = self._suspect_cycles[rid]
            while recent and recent[0] <= self.cycle - h.suspect_window:
                recent.popleft()
            if len(recent) < h.suspect_limit and rid not in unrepairable:
                continue
            why = "unrepairable chunk" if rid in unrepairable else f"{len(recent)} suspects in {h.suspect_window} cycles"
            if self._rebuilds[rid] < h.rebuild_limit:
                failure = self._rebuild_replica(rid)
                if not failure:
                    continue
                why = f"{why}; rebuild failed: {failure}"
            else:
                why = f"{why} after {self._rebuilds[rid]} rebuilds"
            self._quarantine(rid, why)  # one step of the ladder per health slot
            return
        # A model that has flown cleanly for the cooldown earns the full ladder back (reload first).
        if self._ladder and self.cycle - self._last_escalation >= h.ladder_cooldown and not self._due_cycles:
            self._ladder = 0
        # Per model: repeated detected-unrecoverable results.
        while self._due_cycles and self._due_cycles[0] <= self.cycle - h.due_window:
            self._due_cycles.popleft()
        if len(self._due_cycles) >= h.due_limit:
            self._escalate_model(f"{len(self._due_cycles)} unrecoverable results in {h.due_window} cycles")

    # --- telecommands -------------------------------------------------------------------------

    def _comm(self) -> None:
        for _ in range(min(MAX_TC_PER_COMM, len(self.tc_queue))):
            raw = self.tc_queue.popleft()
            if self.recorder is not None:
                self.recorder.telecommand(self.cycle, raw)
            self.handle_telecommand(raw)
        self.flush_telemetry()

    def handle_telecommand(self, raw: bytes) -> Command | Rejection:
        """Decode → verify → handle; every reject counted once with one event and one report."""
        decoded = decode_command(raw)
        if isinstance(decoded, Rejection):
            self._reject(decoded.request_id, decoded.reason, decoded.detail, TmType.REJECTED)
            return decoded
        self._tm(TmType.ACCEPTED, encode_verification(decoded.request_id))
        failure = self._execute(decoded)
        if failure:
            self._reject(decoded.request_id, RejectReason.REFUSED, failure, TmType.FAILED, decoded.code)
            return Rejection(RejectReason.REFUSED, failure, decoded.request_id)
        self.n["cmd_accepted"] += 1
        self._tm(TmType.COMPLETED, encode_verification(decoded.request_id))
        self.event(EventId.TC_ACCEPTED_DBG, f"{decoded.code.name}{list(decoded.args) if decoded.args else ''}")
        return decoded

    def _reject(self, request_id: bytes, reason: RejectReason, detail: str, kind: TmType,
                command: CommandCode | None = None) -> None:
        """The one place a refusal is counted, reported to the ground and logged as an event."""
        self.n["cmd_rejected"] += 1
        self._tm(kind, encode_verification(request_id, int(reason), detail))
        self.event(EventId.TC_REJECTED_ERR, f"{reason.name}: {command.name + ': ' if command else ''}{detail}")

    def _execute(self, cmd: Command) -> str:
        """Carry out a verified command; '' on success, else why it was refused."""
        code = cmd.code
        if code is CommandCode.NOOP:
            return ""
        if code is CommandCode.RESET_COUNTERS:
            self._reset_counters()
            if self.stack is not None:
                self.stack.engine.reset_statistics()
                self.stack.scrubber.reset_statistics()
            self.event(EventId.COUNTERS_RESET_INF, "command, vote and scrub counters reset")
            return ""
        if code is CommandCode.SET_MODE:
            target = Mode(cmd.args[0])
            if target is Mode.SAFE:
                self.commanded_safe = True
                self._enter_safe("commanded")
                return ""
            if target is Mode.NOMINAL:
                self.commanded_safe = False
                if self.mode is Mode.NOMINAL and self.stack is not None and len(self.in_vote) == len(self.stack.replicas):
                    return ""  # already there: no reboot in the middle of a comm slot
                slot = self.slot or self.store.active()
                failure = self._try_slot(slot)
                if failure:
                    return f"slot {slot} does not verify: {failure}"
                self._ladder = 0
                self._set_mode(Mode.NOMINAL, "commanded")
                return ""
            if self.mode is not Mode.NOMINAL or len(self.in_vote) != 3:
                return f"DEGRADED needs three replicas in NOMINAL, mode is {self.mode.name}"
            self._quarantine(self.in_vote[-1], "commanded DEGRADED")
            return ""
        if code is CommandCode.SCRUB_NOW:
            if self.stack is None:
                return "no model loaded"
            self._scrub_now = True
            return ""
        if code is CommandCode.SET_SCRUB_BUDGET:
            self.scrub_budget = cmd.args[0]
            if self.stack is not None:
                self.stack.scrubber.budget_bytes = self.scrub_budget
            return ""
        if code in (CommandCode.ACTIVATE_SLOT, CommandCode.ROLLBACK):
            if code is CommandCode.ACTIVATE_SLOT:
                slot = SLOTS[cmd.args[0]]
            else:
                if self.slot is None:
                    return "no active slot to roll back from"
                slot = other(self.slot)
            failure = self._try_slot(slot)
            if failure:
                self.event(EventId.SLOT_ACTIVATION_FAILED_ERR, f"slot {slot}: {failure}")
                return f"slot {slot} does not verify: {failure}"
            self.store.set_active(slot)
            if code is CommandCode.ROLLBACK:
                self.n["rollbacks"] += 1
            self.commanded_safe = False
            self._ladder = 0
            self.event(EventId.SLOT_ACTIVATED_INF, f"slot {slot} active")
            self._set_mode(Mode.NOMINAL, f"slot {slot} activated")
            return ""
        raise ExecutiveInternalError(f"no handler for {code.name}")

    def close(self) -> None:
        """Shut down: every generated packet is released to the outbox first (nothing lost)."""
        self.flush_telemetry()
        if self.stack is not None:
            self.stack.close()


def _frame_crc(inputs: list[np.ndarray]) -> int:
    crc = 0
    for arr in inputs:
        crc = crc32c(np.ascontiguousarray(arr), crc) if isinstance(arr, np.ndarray) else crc
    return crc
