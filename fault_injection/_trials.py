"""Trials: inject, run, classify against the golden run.

Inference trials drive a booted stack directly: one boot per worker and redundancy, then for each
trial apply the fault's hits to the live memory, run one decision through `TMREngine.infer`,
classify, and undo the exact bytes (never a reload). Mission trials fly lander episodes under a
radiation environment with the whole executive in the loop.

Outcomes (per trial): masked (the golden output, unanimously), corrected (the golden output after
a vote corrected a replica or a re-execution cleared), due (detected unrecoverable: no output
released, or the frame refused by its CRC or range check), sdc (an output that differs from the
golden one released as valid), crash (the decision raised), hang (it ran past the deadline).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from flight import (
    Executive,
    FlightConfig,
    InferenceOutcome,
    InputRejected,
    Instrument,
    Redundancy,
    Replica,
    Schedule,
    SeuguardError,
    boot,
    crc32c,
    load_config,
    load_manifest,
    load_world,
    open_model,
    parse_config,
    validate_inputs,
)

from ._campaign import Experiment
from ._models import (
    FaultRecord,
    Hit,
    TensorInfo,
    apply_hits,
    array_buffers,
    image_buffers,
    sample_fault,
    sample_hits_batch,
    tensors_of,
    undo,
)

OUTCOMES = ("masked", "corrected", "due", "sdc", "crash", "hang")
MISSION_OUTCOMES = ("landed", "crashed", "timed_out")
EXAMPLES_PER_OUTCOME = 10


def mode_redundancy(mode: str) -> Redundancy:
    return Redundancy("tmr" if mode.startswith("tmr") else mode)


def digest(outputs) -> str:
    if outputs is None:
        return ""
    h = hashlib.sha256()
    for o in outputs:
        h.update(np.ascontiguousarray(o).tobytes())
    return h.hexdigest()[:16]


@dataclass
class ModeTally:
    """Counts for one mode over some trials; shards add up in shard order."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES + ("trials",), 0))
    mission: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        MISSION_OUTCOMES + ("sdc_events", "due_events", "upsets", "cycles"), 0))
    by_bit: dict[int, list[int]] = field(default_factory=dict)  # bit -> [trials, sdc]
    by_tensor: dict[str, list[int]] = field(default_factory=dict)
    by_target: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, outcome: str, record: FaultRecord | None, bit: int | None = None, tensor: str | None = None) -> None:
        self.counts[outcome] += 1
        self.counts["trials"] += 1
        sdc = outcome == "sdc"
        if bit is not None:
            b = self.by_bit.setdefault(bit, [0, 0])
            b[0] += 1
            b[1] += sdc
        if tensor is not None:
            t = self.by_tensor.setdefault(tensor, [0, 0])
            t[0] += 1
            t[1] += sdc
        if record is not None:
            tgt = self.by_target.setdefault(record.target, dict.fromkeys(OUTCOMES, 0))
            tgt[outcome] += 1
            kept = self.examples.setdefault(outcome, [])
            if len(kept) < EXAMPLES_PER_OUTCOME:
                kept.append(record.to_dict())

    def merge(self, other: "ModeTally") -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        for k, v in other.mission.items():
            self.mission[k] += v
        for src, dst in ((other.by_bit, self.by_bit), (other.by_tensor, self.by_tensor)):
            for k, (n, s) in src.items():
                d = dst.setdefault(k, [0, 0])
                d[0] += n
                d[1] += s
        for tgt, c in other.by_target.items():
            d = self.by_target.setdefault(tgt, dict.fromkeys(OUTCOMES, 0))
            for k, v in c.items():
                d[k] += v
        for outcome, recs in other.examples.items():
            kept = self.examples.setdefault(outcome, [])
            kept.extend(recs[: max(0, EXAMPLES_PER_OUTCOME - len(kept))])

    def to_dict(self) -> dict:
        return {"counts": self.counts, "mission": self.mission,
                "by_bit": {str(k): v for k, v in sorted(self.by_bit.items())},
                "by_tensor": dict(sorted(self.by_tensor.items())), "by_target": self.by_target,
                "examples": self.examples}

    @classmethod
    def from_dict(cls, d: dict) -> "ModeTally":
        t = cls()
        t.counts = dict(d["counts"])
        t.mission = dict(d["mission"])
        t.by_bit = {int(k): list(v) for k, v in d["by_bit"].items()}
        t.by_tensor = {k: list(v) for k, v in d["by_tensor"].items()}
        t.by_target = {k: dict(v) for k, v in d["by_target"].items()}
        t.examples = {k: list(v) for k, v in d["examples"].items()}
        return t


class OutputUpset(Instrument):
    """An upset during computation: armed with hits for one replica, it changes that replica's
    outputs once (the first attempt; a re-execution computes afresh)."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.position: int | None = None
        self.hits: tuple[Hit, ...] = ()
        self.engine: Any = None

    def after_replica(self, engine, replica, outputs):
        if self.position is None or engine is not self.engine or replica is not engine.replicas[self.position]:
            return
        apply_hits(array_buffers(self.hits[0].replica, dict(zip(self.names, outputs))), self.hits)
        self.position = None


# --- inference trials -------------------------------------------------------------------------


class InferenceTrials:
    """One per worker process: a booted stack per redundancy, reused for every trial."""

    def __init__(self, exp: Experiment):
        self.exp = exp
        self.stacks = {}
        for mode in exp.modes:
            red = mode_redundancy(mode)
            if red not in self.stacks:
                # The engine's watchdog kills a replica run that passes the trial deadline.
                self.stacks[red] = boot(exp.model, redundancy=red, scheduling="serial",
                                        watchdog_s=exp.deadline_ms / 1000.0)
        stack = next(iter(self.stacks.values()))
        self.model = stack.model
        manifest = stack.model.manifest
        self.weight_tensors = tensors_of(stack.replicas[0].image)
        self.input_tensors = tuple(TensorInfo(s.name, int(np.prod(s.shape)), np.dtype(s.dtype).itemsize) for s in manifest.inputs)
        self.output_tensors = tuple(TensorInfo(s.name, int(np.prod(s.shape)), np.dtype(s.dtype).itemsize) for s in manifest.outputs)
        self.cums = {k: np.cumsum([t.bits for t in v]) for k, v in
                     (("weights", self.weight_tensors), ("input", self.input_tensors), ("output", self.output_tensors))}
        self.golden = [digest(o) for o in stack.model.golden_outputs]
        self.golden_bytes = [b"".join(np.ascontiguousarray(a).tobytes() for a in o) for o in stack.model.golden_outputs]
        self.buffers = {red: image_buffers(s.replicas) for red, s in self.stacks.items()}
        self.files: dict[str, bytes] = {}
        self.file_tensors: tuple[TensorInfo, ...] = ()
        self._scratch = None
        if any(t == "model-file" for t, _ in exp.targets):
            # A private copy of the model folder per worker: a trial corrupts one file, boots from
            # the copy, and writes the file back.
            import shutil
            import tempfile
            self._scratch = Path(tempfile.mkdtemp(prefix="seuguard-fi-"))
            import atexit  # a worker process's runner lives until the process exits
            atexit.register(shutil.rmtree, self._scratch, True)
            for f in sorted(Path(exp.model).iterdir()):
                if f.is_file():
                    shutil.copy2(f, self._scratch / f.name)
                    self.files[f.name] = f.read_bytes()
            self.file_tensors = tuple(TensorInfo(n, len(b), 1) for n, b in self.files.items())
            self.cums["model-file"] = np.cumsum([t.bits for t in self.file_tensors])
        self.output_upset = None
        if any(t == "output" for t, _ in exp.targets):
            self.output_upset = OutputUpset(tuple(s.name for s in manifest.outputs))
            for s in self.stacks.values():
                s.engine.instruments.append(self.output_upset)

    def close(self) -> None:
        for s in self.stacks.values():
            s.close()
        if self._scratch is not None:
            import shutil
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def sample(self, rng: np.random.Generator, target: str, vector: int) -> FaultRecord:
        """One fault record (tests, benchmarks); campaigns draw a shard's faults at once."""
        tensors, cum = self._space(target)
        f = self.exp.fault
        return sample_fault(rng, self.exp.seed, f.model, target, tensors, 3, f.max_bits, f.same_element, vector, cum)

    def run_shard(self, shard: int, count: int) -> dict[str, ModeTally]:
        """`count` faults drawn from (campaign seed, shard index), each run in every mode."""
        exp, f = self.exp, self.exp.fault
        rng = np.random.default_rng([exp.seed, shard])
        names = [t for t, _ in exp.targets]
        weights = np.array([w for _, w in exp.targets])
        targets = rng.choice(len(names), size=count, p=weights / weights.sum()).tolist()
        vectors = rng.integers(0, len(self.golden), size=count).tolist()
        all_hits: list = [None] * count
        for k, name in enumerate(names):
            idx = [j for j, t in enumerate(targets) if t == k]
            tensors, cum = self._space(name)
            for j, hits in zip(idx, sample_hits_batch(rng, f.model, name, tensors, cum, len(idx), 3, f.max_bits,
                                                        f.same_element)):
                all_hits[j] = hits
        outcomes: dict[str, list[str]] = {m: [] for m in exp.modes}
        kept: dict[str, dict[str, list[dict]]] = {m: {} for m in exp.modes}
        folds = {m: mode_redundancy(m).replicas for m in exp.modes}
        run = self.run_hits
        for j in range(count):
            hits, target, vector = all_hits[j], names[targets[j]], vectors[j]
            top = max(h.replica for h in hits)
            for mode in exp.modes:
                n = folds[mode]
                mh = hits if top < n else tuple(h._replace(replica=h.replica % n) for h in hits)
                outcome, out_digest = run(mode, target, mh, vector)
                outcomes[mode].append(outcome)
                keep = kept[mode].setdefault(outcome, [])
                if len(keep) < EXAMPLES_PER_OUTCOME:
                    keep.append(FaultRecord(exp.seed, target, f.model, mh, vector, mode=mode, outcome=outcome,
                                            output_sha256=out_digest, extra={"shard": shard, "trial": j}).to_dict())
        tallies = {}
        weight_trials = [j for j, t in enumerate(targets) if names[t] == "weights"]
        for mode in exp.modes:
            tally = ModeTally()
            got = outcomes[mode]
            for outcome, n in Counter(got).items():
                tally.counts[outcome] += n
            tally.counts["trials"] = count
            for (t, outcome), n in Counter(zip(targets, got)).items():
                tally.by_target.setdefault(names[t], dict.fromkeys(OUTCOMES, 0))[outcome] += n
            for (bit, tensor, sdc), n in Counter((all_hits[j][0].bit, all_hits[j][0].tensor, got[j] == "sdc")
                                                 for j in weight_trials).items():
                for table, key in ((tally.by_bit, bit), (tally.by_tensor, tensor)):
                    row = table.setdefault(key, [0, 0])
                    row[0] += n
                    row[1] += n if sdc else 0
            tally.examples = kept[mode]
            tallies[mode] = tally
        return tallies

    def _space(self, target: str):
        tensors = {"weights": self.weight_tensors, "output": self.output_tensors,
                   "model-file": self.file_tensors}.get(target, self.input_tensors)
        return tensors, self.cums["input" if target.startswith("input") else target]

    def for_mode(self, mode: str, record: FaultRecord) -> FaultRecord:
        """The record as it lands in `mode`: replica indices folded onto the mode's replicas."""
        n = mode_redundancy(mode).replicas
        if record.target in ("input", "input-before-crc", "model-file") or all(h.replica < n for h in record.hits):
            return record  # the common case: nothing to fold, no new record
        return replace(record, hits=tuple(h._replace(replica=h.replica % n) for h in record.hits))

    def run_trial(self, mode: str, record: FaultRecord) -> tuple[str, str, FaultRecord]:
        """Apply, decide once, classify, undo. Returns (outcome, output digest, record as applied)."""
        record = self.for_mode(mode, record)
        return (*self.run_hits(mode, record.target, record.hits, record.vector), record)

    def run_hits(self, mode: str, target: str, hits: tuple[Hit, ...], vector: int) -> tuple[str, str]:
        """The trial itself (what campaigns and replay both run): (outcome, output digest)."""
        red = mode_redundancy(mode)
        stack = self.stacks[red]
        engine = stack.engine
        inputs = self.model.golden_inputs[vector]
        undo_record = None
        result = None
        killed = engine.watchdog_timeouts
        t0 = time.perf_counter()
        if target == "model-file":
            return self._stored_model_trial(mode, hits, vector, t0)
        try:
            if target == "weights":
                undo_record = apply_hits(self.buffers[red], hits)
                result = engine.infer(inputs, validated=True)
            elif target == "output":
                self.output_upset.engine = engine
                self.output_upset.hits = hits
                self.output_upset.position = hits[0].replica
                try:
                    result = engine.infer(inputs, validated=True)
                finally:
                    self.output_upset.position = None
            else:
                frame = [np.array(a, copy=True) for a in inputs]
                crc_at_capture = _frame_crc(frame) if target == "input" else 0
                apply_hits(array_buffers(-1, dict(zip((t.name for t in self.input_tensors), frame))), hits)
                if target == "input" and _frame_crc(frame) != crc_at_capture:
                    return "due", ""  # the executive's sense/infer CRC check refuses the frame
                try:
                    validate_inputs(frame, self.model.manifest.inputs)  # the sense task's range check
                except InputRejected:
                    return "due", ""
                result = engine.infer(frame, validated=True)
            if mode == "tmr+scrub" and result.suspects:
                for pos in sorted(result.suspects):  # as the executive does: scrub a suspect at once
                    stack.scrubber.repair_replica(pos)
        except Exception:  # noqa: BLE001 - a decision that raises is the outcome being measured
            return "crash", ""
        finally:
            if undo_record is not None:
                undo(undo_record)
        if engine.watchdog_timeouts != killed or (time.perf_counter() - t0) * 1000.0 > self.exp.deadline_ms:
            return "hang", ""
        if result.outcome is InferenceOutcome.DETECTED_UNRECOVERABLE:
            return "due", ""
        out = result.outputs
        same = (out[0].tobytes() if len(out) == 1 else b"".join(o.tobytes() for o in out)) == self.golden_bytes[vector]
        if not same:
            return "sdc", digest(out)
        return ("corrected" if result.outcome is InferenceOutcome.CORRECTED else "masked"), self.golden[vector]

    def _stored_model_trial(self, mode: str, hits: tuple[Hit, ...], vector: int, t0: float) -> tuple[str, str]:
        """Corrupt a stored file, boot from it as the executive would, decide once, put it back.
        Refused at boot (sha256, CRCs, manifest checks, golden vectors) is a detected error."""
        name = hits[0].tensor
        data = np.frombuffer(self.files[name], dtype=np.uint8).copy()
        apply_hits(array_buffers(-1, {name: data}), hits)
        path = self._scratch / name
        path.write_bytes(data.tobytes())
        stack = None
        try:
            stack = boot(self._scratch, redundancy=mode_redundancy(mode), scheduling="serial")
            result = stack.engine.infer(self.model.golden_inputs[vector])
        except SeuguardError:
            return "due", ""
        except Exception:  # noqa: BLE001 - a boot or decision that raises is the outcome measured
            return "crash", ""
        finally:
            if stack is not None:
                stack.close()
            path.write_bytes(self.files[name])
        if (time.perf_counter() - t0) * 1000.0 > self.exp.deadline_ms:
            return "hang", ""
        if result.outcome is InferenceOutcome.DETECTED_UNRECOVERABLE:
            return "due", ""
        if b"".join(o.tobytes() for o in result.outputs) != self.golden_bytes[vector]:
            return "sdc", digest(result.outputs)
        return ("corrected" if result.outcome is InferenceOutcome.CORRECTED else "masked"), self.golden[vector]


def _frame_crc(frame: list[np.ndarray]) -> int:
    """The same CRC the executive takes at capture and re-checks at fan-out."""
    crc = 0
    for a in frame:
        crc = crc32c(np.ascontiguousarray(a), crc)
    return crc


# --- mission trials ---------------------------------------------------------------------------


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
        from ._models import _pick_bit
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
            keys = sorted(executive.n)
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
        executive.n[name] ^= 1 << hit.bit
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
        from flight import ImageLayout, WeightImage
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
                tally.mission[outcome] += 1
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
