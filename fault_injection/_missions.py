"""Mission trials: lander episodes flown by the executive under a radiation environment.

Upsets come from a Poisson process over mission time (`Radiation`) and, where asked, one upset per
episode in executive state (`StateUpset`); they persist until the scrubber or a vote's repair fixes
them. A clean shadow replica computes every released decision again: a released output that differs
from it is an SDC event. Each episode is classified (masked/corrected/due/sdc/crash/hang) and counted
at mission level (landed/crashed/timed out). The first shard of each mode is kept as a mission
record (every upset with its cycle) that `fault-inject replay` re-flies bit for bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from flight import (
    Executive,
    FlightConfig,
    ImageLayout,
    Instrument,
    Replica,
    Schedule,
    WeightImage,
    load_config,
    load_manifest,
    load_world,
    COUNTER_CELLS,
    flip_counter_bit,
    open_model,
    parse_config,
)

from ._campaign import Experiment
from ._models import FaultRecord, Hit, _pick_bit, apply_hits, image_buffers, tensors_of
from ._tally import EXAMPLES_PER_OUTCOME, MISSION_OUTCOMES, ModeTally, mode_redundancy


def mission_config(mode: str, text: str = "") -> FlightConfig:
    """The flight configuration a mode flies (campaigns pin serial scheduling): only `tmr+scrub` (and the fault-free reference) run
    the periodic scrub task; `simplex`, `duplex` and `tmr` fly without it, so upsets accumulate
    (the repair of a replica the vote names as suspect stays: it is part of the executive's voting)."""
    config = parse_config(text, "flight_config") if text else load_config(None)
    # No wall-clock watchdog: on a loaded machine it abandons replica runs at random, and a
    # campaign's counts must depend on the seed only (hangs are classified by the trial deadline).
    config = replace(config, engine=replace(config.engine, watchdog_ms=0.0))
    if mode in ("tmr+scrub", "fault-free"):
        return config
    s = config.schedule
    return replace(config, schedule=_NoScrubSchedule(s.minor_frame_hz, s.minor_frames, s.slots, s.budgets_ms,
                                                     s.scrub_budget_bytes))


@dataclass(frozen=True)
class _NoScrubSchedule(Schedule):
    """The flight schedule with its scrub tasks never dispatched. The slot table keeps them, so the
    executive's housekeeping arithmetic (scrub period) still works; only `tasks()` drops them."""

    def tasks(self, cycle: int) -> tuple[str, ...]:
        return tuple(t for t in self.slots[(cycle - 1) % self.minor_frames] if t != "scrub")


def executive_for_shard(exp: Experiment, mode: str, world: Any, instruments: list) -> Executive:
    """THE seam where a mission shard gets its executive. Today: a fresh executive per shard (a
    boot), whose episodes then fly back to back as one continuing mission. When the executive can
    be built from a booted stack and reset per episode, this is the one function to change."""
    from flight import SlotStore, make_executive
    redundancy = "tmr" if mode == "fault-free" else mode_redundancy(mode).value
    return make_executive(SlotStore.single(exp.model), mission_config(mode, exp.flight_config), world, instruments,
                          redundancy=redundancy, scheduling="serial")


class Radiation(Instrument):
    """Upsets from an environment, at the start of the cycle they fall in; they persist until the
    scrubber (or a vote's repair) fixes them. Mission time runs on the cycle counter."""

    def __init__(self, exp: Experiment, rng: np.random.Generator, dt: float, tensors, cum):
        self.env = exp.environment
        self.rng = rng
        self.dt = dt
        self.tensors = tensors
        self.cum = cum
        self.image_bits = int(cum[-1])
        self.seed = exp.seed
        self.next_t: float | None = None
        self.bits = 0
        self.upsets = 0
        self.records: list[FaultRecord] = []
        self.log: list[tuple[int, str, tuple[Hit, ...]]] = []  # every upset: what a replay re-applies

    def cycle_start(self, cycle: int, executive: Any) -> None:
        replicas = executive.replicas
        if not replicas:
            return
        bits = self.image_bits * len(replicas)
        t = cycle * self.dt
        if self.next_t is None or bits != self.bits:
            self.bits = bits
            self.next_t = self.env.next_upset(self.rng, bits, t - self.dt)
        while self.next_t <= t:
            self._strike(cycle, replicas)
            self.next_t = self.env.next_upset(self.rng, bits, self.next_t)

    def _strike(self, cycle: int, replicas) -> None:
        replica = int(self.rng.integers(0, len(replicas)))
        info, gbit = _pick_bit(self.rng, self.tensors, self.cum)
        k = self.env.multiplicity(self.rng)
        width = info.itemsize * 8
        hits = tuple(Hit(replica, info.name, b // width, b % width) for b in range(gbit, min(gbit + k, info.bits)))
        apply_hits(image_buffers(replicas), hits)
        self.log.append((cycle, "weights", hits))
        self.upsets += 1
        if len(self.records) < 100:
            self.records.append(FaultRecord(self.seed, "weights", "single" if k == 1 else "mbu", hits, cycle=cycle))


class StateUpset(Instrument):
    """One upset in executive state per episode, at a cycle drawn for it: a bit of one of the
    scrubber's reference CRCs (the ground's table the scrubber checks against) or of one of the
    executive's counters. The active-slot record is not targeted (a single-model store has none)."""

    KINDS = ("crc-table", "counter")

    def __init__(self, rng: np.random.Generator, seed: int):
        self.rng = rng
        self.seed = seed
        self.at: int | None = None
        self.records: list[FaultRecord] = []
        self.log: list[tuple[int, str, tuple[Hit, ...]]] = []
        self.upsets = 0

    def arm(self, cycle: int) -> None:
        self.at = cycle

    def cycle_start(self, cycle: int, executive: Any) -> None:
        if cycle != self.at or executive.stack is None:
            return
        self.at = None
        kind = self.KINDS[int(self.rng.integers(0, len(self.KINDS)))]
        bit = int(self.rng.integers(0, 32))
        if kind == "crc-table":
            chunk = executive.stack.scrubber.chunks[int(self.rng.integers(0, len(executive.stack.scrubber.chunks)))]
            hit = Hit(-1, f"crc:{chunk.tensor}#{chunk.tensor_chunk}", 0, bit)
        else:
            keys = sorted(COUNTER_CELLS)
            hit = Hit(-1, f"counter:{keys[int(self.rng.integers(0, len(keys)))]}", 0, bit)
        apply_state_hit(executive, hit)
        self.log.append((cycle, "state", (hit,)))
        self.upsets += 1
        if len(self.records) < 100:
            self.records.append(FaultRecord(self.seed, "state", "single", (hit,), cycle=cycle))


def apply_state_hit(executive: Any, hit: Hit) -> None:
    """An upset in executive state, named by the hit's tensor: `crc:TENSOR#CHUNK` flips a bit of
    that chunk's reference CRC in the scrubber's table; `counter:KEY` one of the executive's counters."""
    kind, _, name = hit.tensor.partition(":")
    if kind == "crc":
        tensor, _, index = name.rpartition("#")
        scrubber = executive.stack.scrubber
        chunks = list(scrubber.chunks)
        for i, chunk in enumerate(chunks):
            if chunk.tensor == tensor and chunk.tensor_chunk == int(index):
                chunks[i] = replace(chunk, crc=chunk.crc ^ (1 << hit.bit))
        scrubber.chunks = tuple(chunks)
    elif kind == "counter":
        flip_counter_bit(executive, name, hit.bit)
    else:
        raise ValueError(f"state hit {hit.tensor!r}: expected crc:TENSOR#CHUNK or counter:KEY")


class ReplayUpsets(Instrument):
    """Re-applies a recorded mission's upsets at their cycles (what `fault-inject replay` flies)."""

    def __init__(self, log: list[tuple[int, str, tuple[Hit, ...]]]):
        self.skipped = 0
        self.by_cycle: dict[int, list[tuple[str, tuple[Hit, ...]]]] = {}
        for cycle, target, hits in log:
            self.by_cycle.setdefault(cycle, []).append((target, hits))

    def cycle_start(self, cycle: int, executive: Any) -> None:
        for target, hits in self.by_cycle.get(cycle, ()):
            if executive.stack is None or any(h.replica >= len(executive.replicas) for h in hits):
                self.skipped += 1  # the flight went elsewhere (SAFE, no model): it is no longer the recording
                continue
            if target == "weights":
                apply_hits(image_buffers(executive.replicas), hits)
            else:
                for hit in hits:
                    apply_state_hit(executive, hit)


class MissionTrials:
    """One per worker process: a world per mode and a clean shadow replica that tells SDC apart."""

    def __init__(self, exp: Experiment):
        self.exp = exp
        self.world_spec = exp.world or load_manifest(f"{exp.model}/manifest.yaml").world or ""
        model = open_model(exp.model)
        self.shadow = Replica(0, model)  # fault-free reference for every released output
        image = WeightImage(ImageLayout.from_manifest(model.manifest), model.tensors)
        self.tensors = tensors_of(image)
        self.cum = np.cumsum([t.bits for t in self.tensors])
        self.dt = mission_config("fault-free", exp.flight_config).schedule.minor_frame_s
        self.worlds: dict[str, Any] = {}

    def close(self) -> None:
        for w in self.worlds.values():
            w.close()

    def run_shard(self, shard: int, count: int, modes: tuple[str, ...]) -> dict[str, ModeTally]:
        exp = self.exp
        first_seed = exp.seed + shard * exp.shard_size
        tallies = {}
        for mode in modes:
            world = self.worlds.get(mode)
            if world is None:
                world = self.worlds[mode] = load_world(self.world_spec)
            rng = np.random.default_rng([exp.seed, shard, 7])  # the same radiation stream in every mode
            targets = {t for t, _ in exp.targets}
            faulty = mode != "fault-free"
            radiation = Radiation(exp, rng, self.dt, self.tensors, self.cum) if faulty and "weights" in targets else None
            state = StateUpset(np.random.default_rng([exp.seed, shard, 8]), exp.seed) if faulty and "state" in targets else None
            tallies[mode] = self._fly(mode, world, radiation, first_seed, count, state, record=shard == 0)
        return tallies

    def _fly(self, mode: str, world: Any, radiation: Radiation | None, first_seed: int, count: int,
             state: StateUpset | None = None, record: bool = False) -> ModeTally:
        tally = ModeTally()
        tally.outcome_names = tuple(getattr(world, "outcomes", MISSION_OUTCOMES))
        tally.success = getattr(world, "success_outcome", tally.outcome_names[0])
        for name in tally.outcome_names:
            tally.mission[name] = 0
        outcomes: list[str] = []
        instruments = [i for i in (radiation, state) if i is not None]
        faulty = bool(instruments)
        executive = executive_for_shard(self.exp, mode, world, instruments)
        try:
            for i in range(count):
                seed = first_seed + i
                before = executive.housekeeping()
                upsets_before = sum(i.upsets for i in instruments)
                if state is not None:  # somewhere in the first 150 frames of the episode
                    state.arm(executive.cycle + 1 + int(state.rng.integers(0, 150)))
                t0 = time.perf_counter()
                sdc_events = 0
                try:
                    obs = world.reset(seed)
                    done = False
                    shadow = self.shadow
                    while not done:
                        result = executive.step([obs])
                        if result.outputs is not None and faulty:
                            ref = shadow.run([obs])
                            if any(a.tobytes() != b.tobytes() for a, b in zip(result.outputs, ref)):
                                sdc_events += 1
                        obs, _r, done = world.step(result.action)
                    outcome = world.outcome().outcome
                except Exception:  # noqa: BLE001 - the crash is what is measured; a new executive flies on
                    executive.close()
                    executive = executive_for_shard(self.exp, mode, world, instruments)
                    tally.add("crash", None)
                    record = False  # a fresh executive flew on: the shard no longer replays as one flight
                    outcomes.append("crash")
                    continue
                after = executive.housekeeping()
                # Detected: no voted output, a refused frame, or a chunk nobody could repair.
                due = sum(getattr(after, k) - getattr(before, k)
                          for k in ("unrecoverable", "inputs_rejected", "chunks_unrepairable"))
                corrected = sum(getattr(after, k) - getattr(before, k)
                                for k in ("votes_corrected", "chunks_repaired", "replica_rebuilds"))
                tally.mission[outcome] = tally.mission.get(outcome, 0) + 1
                outcomes.append(outcome)
                tally.mission["sdc_events"] += sdc_events
                tally.mission["due_events"] += due
                tally.mission["cycles"] += after.cycle - before.cycle
                tally.mission["upsets"] += sum(i.upsets for i in instruments) - upsets_before
                if (time.perf_counter() - t0) * 1000.0 > self.exp.deadline_ms:
                    kind = "hang"
                elif sdc_events:
                    kind = "sdc"
                elif due:
                    kind = "due"
                elif corrected:
                    kind = "corrected"
                else:
                    kind = "masked"
                tally.add(kind, None)
            if record and faulty:
                log = sorted((entry for i in instruments for entry in i.log), key=lambda e: e[0])
                tally.examples["mission"] = [{
                    "mode": mode, "seed": self.exp.seed, "first_episode_seed": first_seed, "episodes": count,
                    "upsets": [{"cycle": c, "target": t, "hits": [h._asdict() for h in hs]} for c, t, hs in log],
                    "outcomes": outcomes, "telemetry_sha256": executive.digest.hexdigest()}]
        finally:
            executive.close()
        records = [r for i in instruments for r in i.records]
        if records:
            tally.examples["upsets"] = [r.to_dict() for r in records[:EXAMPLES_PER_OUTCOME]]
        return tally
