"""Inference trials: inject, decide once, classify against the golden run, undo.

One boot per worker and redundancy, then for each trial: apply the fault's hits to the live memory,
run one decision through `TMREngine.infer`, classify, and put back the exact bytes (never a reload).

Outcomes: masked (the golden output, unanimously), corrected (the golden output after a vote
corrected a replica or a re-execution cleared), due (detected unrecoverable: no output released,
or the frame refused by its CRC or range check, or a corrupted stored file refused at boot), sdc
(an output that differs from the golden one released as valid), crash (the decision raised), hang
(past the deadline: the engine's watchdog kills an overdue replica run).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from flight import (
    InferenceOutcome,
    InputRejected,
    Instrument,
    SeuguardError,
    boot,
    crc32c,
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
from ._tally import EXAMPLES_PER_OUTCOME, OUTCOMES, ModeTally, digest, mode_redundancy


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
