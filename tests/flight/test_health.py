"""Health: the mode table and the escalation ladder."""

from __future__ import annotations

import itertools
import re

import pytest

from flight import EventId, ExecutiveInternalError, Instrument, Mode, load_config, make_executive
from flight.executive._modes import TRANSITIONS, Trigger

from executive_helpers import event_texts, step_until


def test_the_transition_table_covers_exactly_the_allowed_moves(lander_store, lander_world):
    executive = make_executive(lander_store, load_config(), lander_world)
    executive.close()
    health = executive.health
    for mode, trigger in itertools.product(Mode, Trigger):
        health.mode, health.booting = mode, False
        if (mode, trigger) in TRANSITIONS:
            health.transition(trigger, "test")
            assert health.mode is TRANSITIONS[(mode, trigger)]
        else:
            with pytest.raises(ExecutiveInternalError, match=f"^no transition from {mode.name} on {trigger.name}$"):
                health.transition(trigger, "test")


def test_safe_is_reachable_from_every_mode_and_nominal_from_every_mode():
    for mode in Mode:
        assert TRANSITIONS[(mode, Trigger.LOST)] is Mode.SAFE
        assert TRANSITIONS[(mode, Trigger.RESTORED)] is Mode.NOMINAL


class SuspectReplica(Instrument):
    """Replica 1's outputs are wrong from `start` on (an upset in its computation, not its image)."""

    def __init__(self, start: int):
        self.start, self.cycle = start, 0

    def cycle_start(self, cycle, executive):
        self.cycle = cycle

    def after_replica(self, engine, replica, outputs):
        if self.cycle >= self.start and replica.index == 1:
            outputs[0][...] += 3.0


def test_repeated_suspects_rebuild_the_replica_then_quarantine_it(lander_store, lander_world):
    config = load_config()
    executive = make_executive(lander_store, config, lander_world, [SuspectReplica(5)])
    try:
        step_until(executive, lander_world, lambda: executive.mode is Mode.DEGRADED)
    finally:
        executive.close()
    rebuilt = event_texts(executive, EventId.REPLICA_REBUILT_INF)
    assert rebuilt == [f"replica 1 rebuilt from slot A (rebuild {n} of {config.health.rebuild_limit})"
                       for n in range(1, config.health.rebuild_limit + 1)]
    quarantined = event_texts(executive, EventId.REPLICA_QUARANTINED_HI)
    assert len(quarantined) == 1
    # Suspects pile up between health slots, so the count named is at least the limit.
    found = re.fullmatch(rf"replica 1 quarantined: (\d+) suspects in {config.health.suspect_window} cycles "
                         rf"after {config.health.rebuild_limit} rebuilds", quarantined[0])
    assert found and int(found.group(1)) >= config.health.suspect_limit
    assert executive.in_vote == [0, 2]
    hk = executive.housekeeping()
    assert hk.replica_rebuilds == config.health.rebuild_limit and hk.replicas_in_vote == 0b101
    assert hk.unrecoverable == 0  # the vote never released the wrong replica's output


def test_reset_counters_never_lifts_a_cap(lander_store, lander_world):
    from flight import CommandCode, encode_command

    executive = make_executive(lander_store, load_config(), lander_world, [SuspectReplica(5)])
    try:
        step_until(executive, lander_world, lambda: executive.health.rebuilds.get(1) == 1)
        executive.uplink(encode_command(CommandCode.RESET_COUNTERS, seq_count=1))
        step_until(executive, lander_world, lambda: executive.housekeeping().replica_rebuilds == 0)
        assert executive.health.rebuilds[1] == 1  # the ladder remembers
    finally:
        executive.close()
