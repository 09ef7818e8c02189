"""The model manager: booting runs a budget at a time while the vehicle flies; swaps at a boundary."""

from __future__ import annotations

import shutil

import yaml

from flight import CommandCode, EventId, Instrument, Mode, config_from_dict, encode_command, make_executive
from flight.executive._config import read_config_text

from executive_helpers import event_texts, step_until
from executive_helpers import LANDER


def small_boot_budget(budget: int):
    d = yaml.safe_load(read_config_text()[0])
    d["schedule"]["boot_budget_bytes"] = budget
    return config_from_dict(d, "test")


class StackLog(Instrument):
    """Which stack flew each cycle, seen at cycle start and at cycle end."""

    def __init__(self):
        self.at_start, self.at_end = {}, {}

    def cycle_start(self, cycle, executive):
        self.at_start[cycle] = executive.stack

    def cycle_end(self, cycle, executive):
        self.at_end[cycle] = executive.stack


def test_activation_boots_over_many_frames_flies_every_frame_and_swaps_at_a_boundary(lander_store, lander_world):
    shutil.copytree(LANDER, lander_store.root / "B")
    log = StackLog()
    executive = make_executive(lander_store, small_boot_budget(64), lander_world, [log])
    try:
        old = executive.stack
        executive.uplink(encode_command(CommandCode.ACTIVATE_SLOT, (1,), seq_count=1))
        actions = []
        obs = lander_world.reset(0)
        while executive.slot != "B" and executive.cycle < 500:
            result = executive.step([obs])
            actions.append(result.action)
            assert result.outputs is not None  # the old model kept flying while B booted
            obs, _, _ = lander_world.step(result.action)
    finally:
        executive.close()
    assert executive.slot == "B" and lander_store.active() == "B" and executive.mode is Mode.NOMINAL
    swap = min(c for c, s in log.at_start.items() if s is not old)
    # Booting took many health slots, and the new stack appeared only at a cycle's start.
    assert swap > 2 * executive.schedule.minor_frames
    assert all(log.at_start[c] is log.at_end[c] for c in log.at_start)
    assert event_texts(executive, EventId.SLOT_ACTIVATED_INF) == ["slot B active"]
    assert executive.housekeeping().cmd_accepted == 1


def test_the_cycle_a_boot_completes_on_does_not_depend_on_the_wall_clock(lander_store, lander_world):
    shutil.copytree(LANDER, lander_store.root / "B")
    cycles = []
    for _ in range(2):
        executive = make_executive(lander_store, small_boot_budget(4096), lander_world)
        try:
            lander_store.set_active("A")
            executive.uplink(encode_command(CommandCode.ACTIVATE_SLOT, (1,), seq_count=1))
            cycles.append(step_until(executive, lander_world, lambda: executive.slot == "B"))
        finally:
            executive.close()
        lander_store.set_active("A")
    assert cycles[0] == cycles[1]


def test_a_second_boot_while_one_runs_is_refused_as_busy(lander_store, lander_world):
    shutil.copytree(LANDER, lander_store.root / "B")
    executive = make_executive(lander_store, small_boot_budget(64), lander_world)
    try:
        executive.uplink(encode_command(CommandCode.ACTIVATE_SLOT, (1,), seq_count=1))
        step_until(executive, lander_world, lambda: executive.models.busy)
        executive.uplink(encode_command(CommandCode.ROLLBACK, seq_count=2))
        step_until(executive, lander_world, lambda: executive.housekeeping().cmd_rejected == 1)
    finally:
        executive.close()
    refusals = event_texts(executive, EventId.TC_REJECTED_ERR)
    assert len(refusals) == 1 and refusals[0].startswith("REFUSED: ROLLBACK: busy: ")


def test_a_corrupt_active_record_is_an_event_and_a_counter(lander_store, lander_world):
    (lander_store.root / "active").write_text('{"slot": "B", "crc32c": 1}')
    executive = make_executive(lander_store, small_boot_budget(1 << 20), lander_world)
    executive.close()
    assert executive.slot == "A"
    assert executive.housekeeping().active_record_faults == 1
    texts = event_texts(executive, EventId.ACTIVE_RECORD_CORRUPT_ERR)
    assert len(texts) == 1 and texts[0].endswith("; slot A assumed")


def test_a_store_that_never_had_an_active_record_is_not_a_fault(lander_store, lander_world):
    executive = make_executive(lander_store, small_boot_budget(1 << 20), lander_world)
    executive.close()
    assert executive.housekeeping().active_record_faults == 0
    assert event_texts(executive, EventId.ACTIVE_RECORD_CORRUPT_ERR) == []


class NoMajorityFrom(Instrument):
    """From `start` on, replicas 0 and 1 compute different wrong outputs: a model that misbehaves."""

    def __init__(self, start: int):
        self.start, self.cycle = start, 0

    def cycle_start(self, cycle, executive):
        self.cycle = cycle

    def after_replica(self, engine, replica, outputs):
        if self.cycle >= self.start and replica.index in (0, 1):
            outputs[0][...] += 1.0 + replica.index


def test_a_new_model_that_misbehaves_after_activation_is_rolled_back_to_the_previous_slot(lander_store, lander_world):
    shutil.copytree(LANDER, lander_store.root / "B")
    misbehave = NoMajorityFrom(10_000)
    executive = make_executive(lander_store, small_boot_budget(1 << 20), lander_world, [misbehave])
    try:
        executive.uplink(encode_command(CommandCode.ACTIVATE_SLOT, (1,), seq_count=1))
        step_until(executive, lander_world, lambda: executive.slot == "B")
        misbehave.start = executive.cycle + 1  # the new model starts failing its votes
        step_until(executive, lander_world, lambda: executive.slot == "A" and executive.mode is Mode.NOMINAL,
                   limit=2000)
    finally:
        executive.close()
    assert lander_store.active() == "A"
    assert any(t.startswith("rolled back to slot A: ") for t in event_texts(executive, EventId.MODEL_ROLLBACK_HI))
    assert executive.housekeeping().rollbacks == 1
