"""The scheduler: tasks in their slots, hooks at their points, and the seams campaigns use."""

from __future__ import annotations

import shutil

from flight import Executive, Instrument, Mode, SlotStore, boot, fly, load_config, make_executive

from executive_helpers import LANDER


class HookLog(Instrument):
    def __init__(self):
        self.calls = []

    def cycle_start(self, cycle, executive):
        self.calls.append(("start", cycle))

    def frame_captured(self, executive, frame):
        self.calls.append(("captured", executive.cycle))

    def cycle_end(self, cycle, executive):
        self.calls.append(("end", cycle, executive.digest.cycles))


def test_hooks_are_called_once_per_cycle_in_order_and_cycle_end_after_the_digest(lander_store, lander_world):
    log = HookLog()
    executive = make_executive(lander_store, load_config(), lander_world, [log])
    obs = lander_world.reset(0)
    try:
        for _ in range(3):
            executive.step([obs])
    finally:
        executive.close()
    assert log.calls == [("start", 1), ("captured", 1), ("end", 1, 1), ("start", 2), ("captured", 2), ("end", 2, 2),
                         ("start", 3), ("captured", 3), ("end", 3, 3)]


def test_reset_between_episodes_gives_the_digest_of_a_freshly_booted_executive(lander_store, lander_world):
    config = load_config()
    fresh = make_executive(lander_store, config, lander_world, scheduling="serial")
    try:
        expected = fly(fresh, lander_world, episodes=1, seed=4)
    finally:
        fresh.close()
    reused = make_executive(lander_store, config, lander_world, scheduling="serial")
    try:
        fly(reused, lander_world, episodes=1, seed=11)  # some other episode first
        reused.replicas[2].image.flip_bit("fc1.weight", 3, 30)  # and an upset left behind
        reused.reset()
        again = fly(reused, lander_world, episodes=1, seed=4)
    finally:
        reused.close()
    assert again.telemetry_sha256 == expected.telemetry_sha256
    assert again.cycles == expected.cycles and again.votes_corrected == 0


def test_an_executive_built_from_a_booted_stack_never_reads_storage(tmp_path, lander_world):
    shutil.copytree(LANDER, tmp_path / "store" / "A")
    store = SlotStore.open(tmp_path / "store")
    config = load_config()
    stack = boot(store.slot_dir("A"), scheduling="serial", scrub_budget_bytes=config.schedule.scrub_budget_bytes)
    shutil.rmtree(store.slot_dir("A"))  # storage gone: only the booted stack remains
    executive = Executive(store, config, actuate=lander_world.action_from_outputs,
                          fallback=lambda inputs: lander_world.fallback_action(inputs[0]), stack=stack)
    try:
        summary = fly(executive, lander_world, episodes=1, seed=0)
    finally:
        executive.close()
    assert executive.mode is Mode.NOMINAL and summary.fallback_cycles == 0 and summary.landed == 1
