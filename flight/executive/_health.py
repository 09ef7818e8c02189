"""Health: the flight modes and the escalation ladder, as a small state machine.

Responsibility: decide which model may fly and in which mode, through `_modes.py`'s tables; the
model manager does the work (booting, rebuilding) and health hears back at a cycle boundary.

  per replica: repeated suspects (outvoted with a verified image, or the same chunk repaired again
               and again: a stuck bit), or a chunk nobody can repair → rebuild it from storage, up to
               `rebuild_limit` times → quarantine it (NOMINAL → DEGRADED);
  per model:   repeated detected-unrecoverable results, or fewer than two replicas left → reload
               from the active slot → roll back to the other slot → SAFE; a model that flies
               `ladder_cooldown` frames without escalating gets the whole ladder back;
  in SAFE:     unless commanded, retry the active slot, then the other, every `recovery_period` frames.

State: the mode, per replica id its recent suspects, repairs and rebuilds, recent unrecoverable
cycles, the rung; RESET_COUNTERS never touches it. Counters: mode transitions, cycles in SAFE.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

from .._errors import ExecutiveInternalError
from ..comms._packets import CommandCode
from ..storage._store import SLOTS, other
from ._config import HealthConfig
from ._events import EventId
from ._boot import FlightStack
from ._models import ModelManager
from ._modes import TRANSITIONS, Mode, Rung, Trigger
from ._telemetry import Telemetry


@dataclass(frozen=True)
class HealthStatistics:
    mode: int
    mode_transitions: int
    safe_mode_cycles: int


class Health:
    def __init__(self, config: HealthConfig, models: ModelManager, telemetry: Telemetry,
                 on_replica_restored: Callable[[int], None] = lambda rid: None):
        self.config = config
        self.models = models
        self.telemetry = telemetry
        self.on_replica_restored = on_replica_restored
        self.mode = Mode.SAFE
        self.commanded_safe = False
        self.booting = True
        self.reset_statistics()
        self.reset_ladder()

    def reset_statistics(self) -> None:
        self.mode_transitions = self.safe_mode_cycles = 0

    def statistics(self) -> HealthStatistics:
        return HealthStatistics(int(self.mode), self.mode_transitions, self.safe_mode_cycles)

    def reset_ladder(self) -> None:
        """Escalation state as after a fresh boot."""
        cycle = self.telemetry.cycle
        self.suspects: dict[int, deque[int]] = {}
        self.repairs: dict[tuple[int, tuple[str, int]], deque[int]] = {}  # (replica, chunk) -> cycles
        self.rebuilds: dict[int, int] = {}
        self.unrecoverable: deque[int] = deque()
        self.rung = Rung.RELOAD
        self.last_escalation = self.last_recovery = cycle

    # --- inputs from the other components ---------------------------------------------------------

    def note_suspect(self, rid: int) -> None:
        """The replica lost a vote although its image verified: its computation is suspect."""
        self.suspects.setdefault(rid, deque()).append(self.telemetry.cycle)

    def note_repaired(self, rid: int, chunk: tuple[str, int]) -> None:
        """The replica's image failed and was repaired: an upset, fixed. Independent upsets are
        radiation, not a failing replica; only the same chunk failing again and again (a stuck bit)
        counts as suspect."""
        recent = self.repairs.setdefault((rid, chunk), deque())
        recent.append(self.telemetry.cycle)
        while recent and recent[0] <= self.telemetry.cycle - self.config.suspect_window:
            recent.popleft()
        if len(recent) > 1:
            self.note_suspect(rid)

    def note_unrecoverable(self) -> None:
        self.unrecoverable.append(self.telemetry.cycle)

    def end_cycle(self) -> None:
        if self.mode is Mode.SAFE:
            self.safe_mode_cycles += 1

    # --- transitions ------------------------------------------------------------------------------

    def transition(self, trigger: Trigger, reason: str) -> None:
        new = TRANSITIONS.get((self.mode, trigger))
        if new is None:
            raise ExecutiveInternalError(f"no transition from {self.mode.name} on {trigger.name}")
        if self.booting:  # leaving boot is an event, not a transition to count
            self.telemetry.event(EventId.MODE_TRANSITION_INF, f"BOOT -> {new.name}: {reason}")
        elif new is not self.mode:
            self.telemetry.event(EventId.MODE_TRANSITION_INF, f"{self.mode.name} -> {new.name}: {reason}")
            self.mode_transitions += 1
        self.mode = new

    def restored(self, reason: str) -> None:
        """A freshly verified stack flies on every replica (the ladder's rung is the caller's)."""
        self.suspects.clear()
        self.repairs.clear()
        self.unrecoverable.clear()
        self.rebuilds.clear()
        self.transition(Trigger.RESTORED, reason)

    def enter_safe(self, reason: str, trigger: Trigger = Trigger.LOST) -> None:
        self.models.drop()
        self.last_recovery = self.telemetry.cycle
        self.transition(trigger, reason)

    # --- start-up ---------------------------------------------------------------------------------

    def boot(self, stack: FlightStack | None = None) -> None:
        """Start-up: boot the active slot, else the other, else SAFE; or fly `stack`, already booted
        from the active slot."""
        first = self.models.active()
        if stack is not None:
            self.models.install(stack, first)
            self.restored(f"booted slot {first}")
        elif not self.models.boot_now(first):
            self.restored(f"booted slot {first}")
        elif not self.models.boot_now(other(first)):
            self.models.rollbacks += 1
            self.models.store.set_active(other(first))
            self.telemetry.event(EventId.MODEL_ROLLBACK_HI, f"slot {first} failed at boot; flying slot {other(first)}")
            self.restored(f"booted slot {other(first)}")
        else:
            self.enter_safe("no model slot verifies at boot")
        self.booting = False

    # --- the health task ----------------------------------------------------------------------------

    def step(self) -> None:
        """One health slot: at most one step up a ladder (the model manager does the work)."""
        if self.models.busy:
            return
        cycle, h = self.telemetry.cycle, self.config
        if self.mode is Mode.SAFE:
            if not self.commanded_safe and cycle - self.last_recovery >= h.recovery_period:
                self._recover()
            return
        stack = self.models.stack
        unrepairable = {rid for rid, _ in stack.scrubber.unrepairable} if stack is not None else set()
        for rid in list(self.models.in_vote):
            recent = self.suspects.setdefault(rid, deque())
            while recent and recent[0] <= cycle - h.suspect_window:
                recent.popleft()
            if len(recent) < h.suspect_limit and rid not in unrepairable:
                continue
            why = "unrepairable chunk" if rid in unrepairable else f"{len(recent)} suspects in {h.suspect_window} cycles"
            if self.rebuilds.get(rid, 0) < h.rebuild_limit:
                self.models.rebuild_replica(rid, lambda failure, rid=rid, why=why: self._rebuilt(rid, why, failure))
            else:
                self.quarantine(rid, f"{why} after {self.rebuilds.get(rid, 0)} rebuilds")
            return
        if self.rung and cycle - self.last_escalation >= h.ladder_cooldown and not self.unrecoverable:
            self.rung = Rung.RELOAD
        while self.unrecoverable and self.unrecoverable[0] <= cycle - h.due_window:
            self.unrecoverable.popleft()
        if len(self.unrecoverable) >= h.due_limit:
            self.escalate(f"{len(self.unrecoverable)} unrecoverable results in {h.due_window} cycles")

    def _rebuilt(self, rid: int, why: str, failure: str) -> None:
        if failure:
            self.quarantine(rid, f"{why}; rebuild failed: {failure}")
            return
        self.rebuilds[rid] = self.rebuilds.get(rid, 0) + 1
        self.suspects.pop(rid, None)
        self.on_replica_restored(rid)
        self.telemetry.event(EventId.REPLICA_REBUILT_INF, f"replica {rid} rebuilt from slot {self.models.slot} "
                             f"(rebuild {self.rebuilds[rid]} of {self.config.rebuild_limit})")

    def quarantine(self, rid: int, reason: str) -> None:
        self.telemetry.event(EventId.REPLICA_QUARANTINED_HI, f"replica {rid} quarantined: {reason}")
        if self.models.quarantine(rid) >= 2:
            self.transition(Trigger.QUARANTINED, f"replica {rid} quarantined")
        else:  # nothing left to vote: fly the fallback while the ladder works
            self.transition(Trigger.LOST, f"no trustworthy model: replica {rid} quarantined, fewer than two replicas left")
            self.escalate(f"replica {rid} quarantined, fewer than two replicas left")

    def escalate(self, reason: str) -> None:
        """One rung up the model-level ladder: reload → roll back → SAFE."""
        self.last_escalation = self.telemetry.cycle
        slot = self.models.slot
        if self.rung is Rung.RELOAD and slot is not None:
            self.rung = Rung.ROLLBACK
            self.models.boot_slots([slot], lambda failure: self._reloaded(slot, reason, failure), quiet=True)
        elif self.rung <= Rung.ROLLBACK and slot is not None:
            self._roll_back(slot, reason)
        else:
            self.enter_safe(f"no trustworthy model: {reason}")

    def _reloaded(self, slot: str, reason: str, failure: str) -> None:
        if failure:
            self.telemetry.event(EventId.BOOT_FAILED_ERR, f"reload of slot {slot} failed: {failure}")
            self._roll_back(slot, reason)
            return
        self.models.model_reloads += 1
        self.telemetry.event(EventId.MODEL_RELOADED_INF, f"slot {slot} reloaded: {reason}")
        self.restored("model reloaded from storage")

    def _roll_back(self, slot: str, reason: str) -> None:
        self.rung = Rung.SAFE
        target = other(slot)

        def done(failure: str) -> None:
            if failure:
                self.enter_safe(f"no trustworthy model: {reason}")
                return
            self.models.rollbacks += 1
            self.models.store.set_active(target)
            self.telemetry.event(EventId.MODEL_ROLLBACK_HI, f"rolled back to slot {target}: {reason}")
            self.restored(f"rolled back to slot {target}")

        self.models.boot_slots([target], done)

    def _recover(self) -> None:
        self.last_recovery = self.telemetry.cycle
        first = self.models.active()
        slots = [s for s in (first, other(first)) if self.models.store.slot_dir(s) is not None]
        if not slots:
            return

        def done(failure: str) -> None:
            if not failure:
                self.rung = Rung.RELOAD
                self.models.store.set_active(self.models.slot)
                self.restored(f"recovered on slot {self.models.slot}")

        self.models.boot_slots(slots, done)

    # --- commands (refusal text, or '' accepted; `done` for commands that finish later) -----------

    def handlers(self) -> dict:
        return {
            CommandCode.SET_MODE: lambda cmd, done: self.cmd_set_mode(Mode(cmd.args[0]), done),
            CommandCode.ACTIVATE_SLOT: lambda cmd, done: self.cmd_activate(SLOTS[cmd.args[0]], done),
            CommandCode.ROLLBACK: lambda cmd, done: self.cmd_activate(None, done),
        }

    def cmd_set_mode(self, target: Mode, done: Callable[[str], None]) -> str | None:
        if target is Mode.SAFE:
            self.commanded_safe = True
            self.enter_safe("commanded", Trigger.COMMANDED_SAFE)
            return ""
        if target is Mode.NOMINAL:
            self.commanded_safe = False
            full = self.models.stack is not None and len(self.models.in_vote) == len(self.models.stack.replicas)
            if self.mode is Mode.NOMINAL and full:
                return ""  # already there: no reboot
            return self._activate(self.models.slot or self.models.active(), done, "commanded")
        if self.mode is not Mode.NOMINAL or len(self.models.in_vote) < 3:
            return f"DEGRADED needs three or more replicas in NOMINAL, mode is {self.mode.name}"
        rid = self.models.in_vote[-1]
        self.telemetry.event(EventId.REPLICA_QUARANTINED_HI, f"replica {rid} quarantined: commanded DEGRADED")
        self.models.quarantine(rid)
        self.transition(Trigger.COMMANDED_DEGRADED, f"replica {rid} quarantined")
        return ""

    def cmd_activate(self, slot: str | None, done: Callable[[str], None]) -> str | None:
        """ACTIVATE_SLOT (a slot) or ROLLBACK (None: the other slot)."""
        rollback = slot is None
        if rollback:
            if self.models.slot is None:
                return "no active slot to roll back from"
            slot = other(self.models.slot)
        return self._activate(slot, done, f"slot {slot} activated", rollback)

    def _activate(self, slot: str, done: Callable[[str], None], reason: str, rollback: bool = False) -> str | None:
        if self.models.busy:
            return f"busy: {self.models.job.what if self.models.job else 'a boot'} in progress"
        if slot not in SLOTS or self.models.store.slot_dir(slot) is None:
            return f"slot {slot} does not verify: slot {slot} is empty"

        def finished(failure: str) -> None:
            if failure:
                return done(f"slot {slot} does not verify: {failure}")
            self.models.store.set_active(slot)
            if rollback:
                self.models.rollbacks += 1
            self.commanded_safe = False
            self.rung = Rung.RELOAD
            if reason != "commanded":
                self.telemetry.event(EventId.SLOT_ACTIVATED_INF, f"slot {slot} active")
            self.restored(reason)
            done("")

        self.models.boot_slots([slot], finished, quiet=True)
        return None  # pending: the verification report follows when the boot finishes
