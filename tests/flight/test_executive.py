"""The executive: modes, the escalation ladder, telecommands in the loop, determinism, replay."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fault_injection import StuckAt
from flight import (
    CommandCode,
    EventId,
    Executive,
    Instrument,
    Mode,
    SlotStore,
    decode_tm,
    encode_command,
    fly,
    load_config,
    make_executive,
    replay,
)
from flight.comms._recording import Recorder

from executive_helpers import event_texts, step_until

ROOT = Path(__file__).resolve().parents[2]
LANDER = ROOT / "models" / "lander-discrete"


@pytest.fixture
def store(lander_store) -> SlotStore:
    """The shared writable store (conftest.py): the discrete lander in slot A, slot B empty."""
    return lander_store


@pytest.fixture
def world(lander_world):
    return lander_world


def corrupt_file(path: Path, offset: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def run_cycles(executive: Executive, world, cycles: int):
    """Step the executive `cycles` frames in the world, starting new episodes as needed."""
    obs = world.reset(0)
    result = None
    for _ in range(cycles):
        result = executive.step([obs])
        obs, _, done = world.step(result.action)
        if done:
            obs = world.reset(executive.cycle)
    return result


class CorruptEverywhere(Instrument):
    """At one cycle: the same upset in every replica's image and in the stored model file."""

    def __init__(self, cycle: int, model_file: Path):
        self.cycle, self.model_file = cycle, model_file

    def cycle_start(self, cycle, executive):
        if cycle == self.cycle:
            for replica in executive.replicas:
                replica.image.flip_bit("fc3.bias", 0, 30)
            corrupt_file(self.model_file)


def test_replica_knocked_out_for_good_degrades_and_lander_still_lands(store, world):
    config = load_config()
    stuck = StuckAt(replica=2, tensor="fc3.bias", element=1, bit=30, value=1)

    class CorruptStorageAfterBoot(Instrument):
        def cycle_start(self, cycle, executive):
            if cycle == 1:
                corrupt_file(store.slot_dir("A") / "model.onnx")

    executive = make_executive(store, config, world, [CorruptStorageAfterBoot(), stuck])
    try:
        assert executive.mode is Mode.NOMINAL
        summary = fly(executive, world, episodes=3, seed=0)
    finally:
        executive.close()
    assert summary.final_mode == "DEGRADED"
    assert summary.landed == 3
    assert summary.mode_transitions == 1
    transitions = event_texts(executive, EventId.MODE_TRANSITION_INF)
    assert transitions == ["BOOT -> NOMINAL: booted slot A", "NOMINAL -> DEGRADED: replica 2 quarantined"]
    quarantined = event_texts(executive, EventId.REPLICA_QUARANTINED_HI)
    assert len(quarantined) == 1 and quarantined[0].startswith("replica 2 quarantined: ")
    assert "rebuild failed" in quarantined[0] and "sha256" in quarantined[0]
    assert executive.in_vote == [0, 1]
    hk = executive.housekeeping()
    assert hk.replicas_in_vote == 0b011
    assert hk.suspects[2] >= config.health.suspect_limit and hk.suspects[0] == hk.suspects[1] == 0
    assert hk.unrecoverable == 0  # the two good replicas never disagreed


def test_every_copy_corrupted_goes_safe_then_recovers_when_a_good_slot_is_activated(store, world, tmp_path):
    config = load_config()
    executive = make_executive(store, config, world, [CorruptEverywhere(5, store.slot_dir("A") / "model.onnx")])
    try:
        summary = fly(executive, world, episodes=1, seed=0)
        assert executive.mode is Mode.SAFE
        assert summary.safe_mode_cycles > 100  # the heuristic flew most of the episode
        assert summary.landed == 1
        transitions = event_texts(executive, EventId.MODE_TRANSITION_INF)
        assert transitions[-1].startswith("DEGRADED -> SAFE: no trustworthy model")
        assert any(t.startswith("NOMINAL -> DEGRADED") for t in transitions)
        assert any("reload of slot A failed" in t for t in event_texts(executive, EventId.BOOT_FAILED_ERR))
        assert any(t.startswith("slot B: slot B is empty") for t in event_texts(executive, EventId.BOOT_FAILED_ERR))

        # The ground stages a good model in slot B and commands its activation.
        shutil.copytree(LANDER, store.root / "B")
        start = executive.cycle
        summary = fly(executive, world, episodes=1, seed=1,
                      telecommands={start + 1: [encode_command(CommandCode.ACTIVATE_SLOT, (1,), seq_count=7)]})
    finally:
        executive.close()
    assert executive.mode is Mode.NOMINAL
    assert executive.slot == "B" and store.active() == "B"
    assert event_texts(executive, EventId.SLOT_ACTIVATED_INF) == ["slot B active"]
    assert event_texts(executive, EventId.MODE_TRANSITION_INF)[-1] == "SAFE -> NOMINAL: slot B activated"
    assert summary.landed == 1
    hk = executive.housekeeping()
    assert hk.replicas_in_vote == 0b111 and hk.cmd_accepted == 1


def test_single_upset_is_corrected_without_leaving_nominal(store, world):
    class FlipOnce(Instrument):
        def cycle_start(self, cycle, executive):
            if cycle == 10:
                executive.replicas[1].image.flip_bit("fc3.bias", 2, 30)

    executive = make_executive(store, load_config(), world, [FlipOnce()])
    try:
        summary = fly(executive, world, episodes=1, seed=0)
    finally:
        executive.close()
    assert summary.final_mode == "NOMINAL" and summary.mode_transitions == 0
    assert summary.votes_corrected == 1 and summary.chunks_repaired == 1
    assert event_texts(executive, EventId.VOTE_CORRECTED_LOW) == ["replica 1 outvoted"]
    assert event_texts(executive, EventId.CHUNK_REPAIRED_INF) == ["replica 1 tensor fc3.bias chunk 0 by majority"]


def test_same_seed_gives_same_telemetry_digest_and_bytes(store, world):
    config = load_config()
    digests, streams = [], []
    for scheduling in ("serial", "serial", "pooled"):
        executive = make_executive(store, config, world, scheduling=scheduling)
        try:
            summary = fly(executive, world, episodes=2, seed=3)
        finally:
            executive.close()
        digests.append(summary.telemetry_sha256)
        # Only the timing reports (wall clock) may differ between runs.
        streams.append([p for p in executive.outbox if decode_tm(p).type.name != "TIMING"])
    assert digests[0] == digests[1] == digests[2]
    assert streams[0] == streams[1] == streams[2]


def test_replay_of_a_recording_reproduces_the_digest(store, world, tmp_path):
    log = tmp_path / "flight.log"
    config_text = (ROOT / "flight" / "config" / "default.yaml").read_text()
    recorder = Recorder(log, {"store_root": str(store.root), "config_text": config_text,
                              "config_source": "default.yaml", "redundancy": "tmr", "scheduling": "serial"})
    executive = make_executive(store, load_config(), world, recorder=recorder, scheduling="serial")
    commands = {20: [encode_command(CommandCode.NOOP, seq_count=1)],
                40: [encode_command(CommandCode.SET_SCRUB_BUDGET, (4096,), seq_count=2), b"\x00garbage"]}
    try:
        summary = fly(executive, world, episodes=1, seed=5, telecommands=commands)
    finally:
        executive.close()
        recorder.close()
    assert summary.cmd_accepted == 2 and summary.cmd_rejected == 1
    replayed = replay(log)
    assert replayed["telemetry_sha256"] == summary.telemetry_sha256
    assert replayed["cycles"] == summary.cycles and replayed["telecommands"] == 3


def test_damaged_recording_is_refused(store, world, tmp_path):
    from flight import RecordingError

    log = tmp_path / "flight.log"
    recorder = Recorder(log, {"store_root": str(store.root), "config_text": "{}"})
    executive = make_executive(store, load_config(), world, recorder=recorder)
    try:
        world_obs = world.reset(0)
        for _ in range(5):
            executive.step([world_obs])
    finally:
        executive.close()
        recorder.close()
    corrupt_file(log, offset=len(log.read_bytes()) - 10)
    with pytest.raises(RecordingError, match=r"damaged record at byte \d+ \(cycle 5\)$"):
        replay(log)


def test_commanded_safe_flies_the_fallback_until_commanded_nominal(store, world):
    executive = make_executive(store, load_config(), world)
    try:
        executive.uplink(encode_command(CommandCode.SET_MODE, (2,), seq_count=1))
        # Far beyond the recovery period: a commanded SAFE stays SAFE.
        result = run_cycles(executive, world, 200)
        assert executive.mode is Mode.SAFE and result.outputs is None
        executive.uplink(encode_command(CommandCode.SET_MODE, (0,), seq_count=2))
        # Booting the slot again runs in the background over a few health slots, then swaps in.
        cycles = step_until(executive, world, lambda: executive.mode is Mode.NOMINAL)
        assert cycles <= 2 * executive.schedule.minor_frames
    finally:
        executive.close()
    assert executive.housekeeping().cmd_accepted == 2


def test_activating_a_bad_slot_is_refused_and_changes_nothing(store, world):
    shutil.copytree(LANDER, store.root / "B")
    corrupt_file(store.root / "B" / "golden.npz", offset=100)
    executive = make_executive(store, load_config(), world)
    try:
        executive.uplink(encode_command(CommandCode.ACTIVATE_SLOT, (1,), seq_count=3))
        step_until(executive, world, lambda: executive.housekeeping().cmd_rejected)
        run_cycles(executive, world, 20)  # and nothing changes afterwards either
    finally:
        executive.close()
    assert executive.slot == "A" and store.active() == "A" and executive.mode is Mode.NOMINAL
    hk = executive.housekeeping()
    assert hk.cmd_rejected == 1 and hk.cmd_accepted == 0
    # Exactly one event for the refusal, naming the file that failed.
    refusals = event_texts(executive, EventId.TC_REJECTED_ERR)
    assert len(refusals) == 1 and refusals[0].startswith("REFUSED: ACTIVATE_SLOT: slot B does not verify: ")
    assert "golden.npz" in refusals[0]
    assert event_texts(executive, EventId.BOOT_FAILED_ERR) == []


def test_nan_sensor_frame_is_rejected_and_the_fallback_flies(store, world):
    executive = make_executive(store, load_config(), world)
    obs = world.reset(0)
    bad = obs.copy()
    bad[0, 3] = np.nan
    try:
        result = executive.step([bad])
    finally:
        executive.close()
    assert result.outputs is None and result.action in (0, 1, 2, 3)
    assert event_texts(executive, EventId.INPUT_REJECTED_ERR) == ["input obs: contains NaN or infinity"]
    hk = executive.housekeeping()
    assert hk.inputs_rejected == 1 and hk.fallback_cycles == 1


def test_frame_changed_after_capture_is_caught_by_its_crc(store, world):
    class CorruptAfterCapture(Instrument):
        def frame_captured(self, executive, frame):
            frame[0][0, 0] += 1.0

    executive = make_executive(store, load_config(), world, [CorruptAfterCapture()])
    obs = world.reset(0)
    try:
        result = executive.step([obs.copy()])
    finally:
        executive.close()
    assert result.outputs is None
    assert event_texts(executive, EventId.INPUT_REJECTED_ERR) == ["sensor frame changed between capture and fan-out (CRC)"]


def test_boot_falls_back_to_the_other_slot_when_the_active_one_is_corrupt(store, world):
    shutil.copytree(LANDER, store.root / "B")
    corrupt_file(store.root / "A" / "model.onnx")
    executive = make_executive(store, load_config(), world)
    executive.close()
    assert executive.slot == "B" and store.active() == "B" and executive.mode is Mode.NOMINAL
    assert any(t.startswith("slot A: ") and "sha256" in t for t in event_texts(executive, EventId.BOOT_FAILED_ERR))
    assert event_texts(executive, EventId.MODEL_ROLLBACK_HI) == ["slot A failed at boot; flying slot B"]


def test_boot_with_no_good_slot_is_safe_and_still_flies(store, world):
    corrupt_file(store.root / "A" / "model.onnx")
    executive = make_executive(store, load_config(), world)
    obs = world.reset(0)
    try:
        result = executive.step([obs])
    finally:
        executive.close()
    assert executive.mode is Mode.SAFE and result.outputs is None and result.action in (0, 1, 2, 3)


def test_scrub_period_in_housekeeping_matches_the_passes_flown(store, world):
    executive = make_executive(store, load_config(), world)
    try:
        run_cycles(executive, world, 120)
    finally:
        executive.close()
    hk = executive.housekeeping()
    assert hk.scrub_full_passes == 120 // hk.scrub_period_cycles
    assert len(hk.cycles_since_verified) == 3 and max(hk.cycles_since_verified) < hk.scrub_period_cycles


def test_replay_starts_from_the_recorded_slot_and_never_writes_the_store(store, world, tmp_path):
    from flight._replay import recording_header

    shutil.copytree(LANDER, store.root / "B")
    corrupt_file(store.root / "A" / "model.onnx")  # boot will fall back to B and record it active
    log = tmp_path / "flight.log"
    config_text = (ROOT / "flight" / "config" / "default.yaml").read_text()
    recorder = Recorder(log, recording_header(store, config_text, "default.yaml", scheduling="serial"))
    executive = make_executive(store, load_config(), world, recorder=recorder, scheduling="serial")
    try:
        summary = fly(executive, world, episodes=1, seed=2)
    finally:
        executive.close()
        recorder.close()
    assert store.active() == "B" and summary.final_mode == "NOMINAL"
    active_record = (store.root / "active").read_bytes()
    replayed = replay(log)
    assert replayed["telemetry_sha256"] == summary.telemetry_sha256
    assert (store.root / "active").read_bytes() == active_record


def test_replay_refuses_a_store_that_changed_since_the_recording(store, world, tmp_path):
    from flight import RecordingError
    from flight._replay import recording_header

    log = tmp_path / "flight.log"
    config_text = (ROOT / "flight" / "config" / "default.yaml").read_text()
    recorder = Recorder(log, recording_header(store, config_text, "default.yaml"))
    recorder.close()
    shutil.copytree(LANDER, store.root / "B")
    with pytest.raises(RecordingError, match=r"slot B of the model store changed since the recording$"):
        replay(log)


class NoMajorityDuring(Instrument):
    """Computation upsets: replicas 0 and 1 give different wrong outputs in the given cycles."""

    def __init__(self, cycles):
        self.cycles, self.cycle = set(cycles), 0

    def cycle_start(self, cycle, executive):
        self.cycle = cycle

    def after_replica(self, engine, replica, outputs):
        if self.cycle in self.cycles and replica.index in (0, 1):
            outputs[0][...] += 1.0 + replica.index


def health_config(**health):
    import yaml

    from flight import config_from_dict
    from flight.executive._config import read_config_text

    d = yaml.safe_load(read_config_text()[0])
    d["health"].update(health)
    return config_from_dict(d, "test")


def test_repeated_unrecoverable_results_reload_the_model_then_cool_down(store, world):
    config = health_config(ladder_cooldown=200, due_limit=3, due_window=50)
    bursts = list(range(20, 24)) + list(range(400, 404))  # two short bursts far apart
    executive = make_executive(store, config, world, [NoMajorityDuring(bursts)])
    try:
        run_cycles(executive, world, 450)
    finally:
        executive.close()
    reloads = event_texts(executive, EventId.MODEL_RELOADED_INF)
    # Each burst climbs one rung (reload), because the ladder cooled down in between; without the
    # cooldown the second burst would have tried slot B (empty) and ended in SAFE.
    assert len(reloads) == 2
    assert all(re.fullmatch(r"slot A reloaded: \d+ unrecoverable results in 50 cycles", r) for r in reloads)
    assert executive.mode is Mode.NOMINAL and executive.housekeeping().model_reloads == 2
    assert executive.housekeeping().fallback_cycles == 8  # the unrecoverable cycles flew the fallback


def test_without_cooldown_a_second_burst_climbs_to_rollback_and_safe(store, world):
    config = health_config(ladder_cooldown=100_000, due_limit=3, due_window=50)
    bursts = list(range(20, 24)) + list(range(400, 404))
    executive = make_executive(store, config, world, [NoMajorityDuring(bursts)])
    try:
        run_cycles(executive, world, 450)
    finally:
        executive.close()
    assert len(event_texts(executive, EventId.MODEL_RELOADED_INF)) == 1
    assert any(t.startswith("slot B: slot B is empty") for t in event_texts(executive, EventId.BOOT_FAILED_ERR))
    assert executive.mode is Mode.SAFE


def test_every_major_frame_sends_housekeeping_and_a_timing_report(store, world):
    from flight import TimingReport, TmType

    executive = make_executive(store, load_config(), world)
    try:
        run_cycles(executive, world, 30)
        executive.flush_telemetry()
    finally:
        executive.close()
    packets = [decode_tm(p) for p in executive.outbox]
    hk = [p.cycle for p in packets if p.type is TmType.HOUSEKEEPING]
    timing = [p for p in packets if p.type is TmType.TIMING]
    assert hk == [10, 20, 30] and [p.cycle for p in timing] == hk
    report = TimingReport.unpack(timing[-1].data)
    assert report.overruns == executive.statistics()["overruns"] and len(report.task_us) == 7
    assert report.task_us[1][0] > 0  # infer's p50 was measured
