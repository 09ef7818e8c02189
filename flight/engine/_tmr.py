"""The TMR engine: run the replicas, vote, re-execute, and report what happened.

Responsibility: turn one validated input frame into one trustworthy output, or a detected
unrecoverable error, never a silent guess.

- Redundancy: TMR (three replicas, element-wise 2-of-3), DUPLEX (two, detect only) or SIMPLEX
  (one, detect only what is NaN or out of range), the last two for comparison.
- A majority is not proof (two replicas hit alike can outvote the healthy one): any disagreement,
  any missing or invalid output, makes the engine verify every voting replica's image against its
  CRCs before anything is released. A replica whose image fails is a suspect, is repaired (through
  `repair`, the scrubber's), and the decision runs again; one that cannot be repaired is left out
  of the vote. Only when every voting image verifies is a majority released, and then the suspects
  are the replicas that lost to verified ones. The unanimous fast path never verifies.
- On no majority (or an invalid output) the replicas run again, up to `max_reexecutions` times: a
  transient upset in the computation clears. Then the result is DETECTED_UNRECOVERABLE.
- Scheduling: SERIAL runs replicas one after another; POOLED runs one on a persistent worker
  thread while the caller runs the others (ORT releases the GIL). AUTO picks POOLED when one
  inference takes 0.5 ms or more (a thread hand-off costs ~60 us). Results do not depend on it.
- Counters: `statistics()` returns a frozen record; every vote outcome and every suspect is counted.
"""

from __future__ import annotations

import enum
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ._validate import check_valid, validate_inputs
from .._instruments import Instrument
from ._replica import Replica, measure_inference_time
from ._scrubber import ChunkRepair
from ._voter import VoteOutcome, VoteResult, vote
from ._watchdog import Watchdog

POOLED_THRESHOLD_S = 0.5e-3
_NO_SUSPECTS: frozenset[int] = frozenset()


class Redundancy(str, enum.Enum):
    TMR = "tmr"
    DUPLEX = "duplex"
    SIMPLEX = "simplex"

    @property
    def replicas(self) -> int:
        return {"tmr": 3, "duplex": 2, "simplex": 1}[self.value]


class Scheduling(str, enum.Enum):
    SERIAL = "serial"
    POOLED = "pooled"
    AUTO = "auto"


class InferenceOutcome(enum.IntEnum):
    UNANIMOUS = 0
    CORRECTED = 1
    DETECTED_UNRECOVERABLE = 2


@dataclass(frozen=True)
class InferenceResult:
    outcome: InferenceOutcome
    outputs: tuple[np.ndarray, ...] | None  # None when DETECTED_UNRECOVERABLE
    suspects: frozenset[int]  # ids of replicas whose image failed, or that lost to verified replicas
    attempts: int
    reason: str = ""
    repairs: tuple[ChunkRepair, ...] = ()  # chunks repaired while verifying a disagreement


@dataclass(frozen=True)
class EngineStatistics:
    inferences: int
    votes_unanimous: int
    votes_corrected: int
    votes_failed: int  # attempts with no majority or an invalid output
    reexecutions: int
    unrecoverable: int
    replica_errors: int  # replica runs that raised
    watchdog_timeouts: int  # replica runs abandoned at their deadline
    disagreements_verified: int  # votes short of unanimous whose replicas' images were checked
    images_failed_verification: int  # replica images found corrupted by those checks
    suspects: dict[int, int]  # replica id -> times outvoted (every replica of the engine listed)


class TMREngine:
    def __init__(
        self,
        replicas: Sequence[Replica],
        redundancy: Redundancy = Redundancy.TMR,
        scheduling: Scheduling = Scheduling.AUTO,
        max_reexecutions: int = 2,
        instruments: Sequence[Instrument] = (),
        watchdog_s: float = 0.0,
    ):
        redundancy = Redundancy(redundancy)
        if len(replicas) != redundancy.replicas:
            raise ValueError(f"{redundancy.value} needs {redundancy.replicas} replicas, got {len(replicas)}")
        if max_reexecutions < 0:
            raise ValueError("max_reexecutions must be >= 0")
        self.replicas = list(replicas)
        self.redundancy = redundancy
        self.max_reexecutions = max_reexecutions
        self.instruments = list(instruments)
        self.specs = replicas[0].model.manifest
        # Repairs one replica's image by id (the scrubber's `repair_replica`); None: cannot repair.
        self.repair: Callable[[int], list[ChunkRepair]] | None = None
        scheduling = Scheduling(scheduling)
        if len(replicas) == 1:
            scheduling = Scheduling.SERIAL  # nothing to run in parallel
        elif scheduling is Scheduling.AUTO:
            t = measure_inference_time(replicas[0], replicas[0].model.golden_inputs[0])
            scheduling = Scheduling.POOLED if t >= POOLED_THRESHOLD_S and len(replicas) > 1 else Scheduling.SERIAL
        self.scheduling = scheduling
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="replica") if scheduling is Scheduling.POOLED else None
        self._count_lock = threading.Lock()
        # One watchdog per concurrently running replica (pooled runs two at once).
        n_dogs = 2 if self._pool is not None else 1
        self._watchdogs = [Watchdog(watchdog_s) for _ in range(n_dogs)] if watchdog_s > 0 else []
        self.reset_statistics()

    @property
    def _lean(self) -> bool:
        """Whether a decision may take the lean path (decided per call: instruments may be added)."""
        return (self._pool is None and not self.instruments and len(self.specs.inputs) == 1
                and len(self.specs.outputs) == 1)

    @property
    def watchdog_enabled(self) -> bool:
        return bool(self._watchdogs)

    @property
    def watchdog_timeouts(self) -> int:
        """The one counter the executive reads every cycle, without building the whole record."""
        return self._n["watchdog_timeouts"]

    def reset_statistics(self) -> None:
        self._n = dict(inferences=0, votes_unanimous=0, votes_corrected=0, votes_failed=0, reexecutions=0,
                       unrecoverable=0, replica_errors=0, watchdog_timeouts=0, disagreements_verified=0,
                       images_failed_verification=0)
        self._suspects = {r.index: 0 for r in self.replicas}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for dog in self._watchdogs:
            dog.close()
        self._watchdogs = []

    def __enter__(self) -> "TMREngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def statistics(self) -> EngineStatistics:
        return EngineStatistics(**self._n, suspects=dict(self._suspects))

    def _run_one(self, replica: Replica, inputs: list[np.ndarray], dog: int = 0) -> list[np.ndarray] | None:
        replica.load(inputs)
        for ins in self.instruments:
            ins.before_replica(self, replica, replica.inputs)
        watchdog = self._watchdogs[dog] if self._watchdogs else None
        try:
            if watchdog is not None:
                watchdog.arm(replica.run_options)
            outputs = replica.compute()
        except Exception:  # a replica that crashes or overruns is outvoted, never fatal
            with self._count_lock:  # the pooled worker counts too
                self._n["watchdog_timeouts" if replica.run_options.terminate else "replica_errors"] += 1
            return None
        finally:
            if watchdog is not None:
                watchdog.disarm()
        for ins in self.instruments:
            ins.after_replica(self, replica, outputs)
        return outputs

    def _run_all(self, inputs: list[np.ndarray]) -> list[list[np.ndarray] | None]:
        if self._pool is None:
            return [self._run_one(r, inputs) for r in self.replicas]
        future = self._pool.submit(self._run_one, self.replicas[1], inputs, len(self._watchdogs) - 1)
        results: list = [self._run_one(self.replicas[0], inputs), None]
        results.extend(self._run_one(r, inputs) for r in self.replicas[2:])
        results[1] = future.result()
        return results

    def _lean_attempt(self, x: np.ndarray) -> InferenceResult | list:
        """The common case with as little Python as possible (serial, no instruments, one input and
        one output): copy the frame into each replica's bound input, run, and release at once when
        the three outputs are byte-equal and valid. Otherwise the outputs become the first attempt
        of the general path, so nothing is run twice and every count is the same."""
        dog = self._watchdogs[0] if self._watchdogs else None
        outputs: list = []
        for replica in self.replicas:
            np.copyto(replica.inputs[0], x)
            try:
                if dog is not None:
                    dog.arm(replica.run_options)
                replica._run_bound(replica._bound, replica.run_options)
                outputs.append(replica.outputs)
            except Exception:  # as in _run_one: a crash or an overrun is outvoted, never fatal
                self._n["watchdog_timeouts" if replica.run_options.terminate else "replica_errors"] += 1
                outputs.append(None)
            finally:
                if dog is not None:
                    dog.disarm()
        if len(outputs) == 3 and None not in outputs:
            a, b, c = outputs[0][0], outputs[1][0], outputs[2][0]
            if a.tobytes() == b.tobytes() == c.tobytes():
                out = (a.copy(),)
                if not check_valid(out, self.specs.outputs):
                    self._n["inferences"] += 1
                    self._n["votes_unanimous"] += 1
                    return InferenceResult(InferenceOutcome.UNANIMOUS, out, _NO_SUSPECTS, 1)
        return outputs

    def infer(self, inputs: Sequence[np.ndarray], validated: bool = False) -> InferenceResult:
        """Validate, run the replicas, vote; verify images on any disagreement; re-execute on
        failure; never emit an unvoted or unverified value.

        `validated=True` is for a caller that has just run `validate_inputs` on this frame itself."""
        frame = list(inputs) if validated else validate_inputs(inputs, self.specs.inputs)
        first = None
        if self._lean:
            first = self._lean_attempt(frame[0])
            if isinstance(first, InferenceResult):
                return first
        n = self._n
        n["inferences"] += 1
        suspects: set[int] = set()
        excluded: set[int] = set()  # positions whose image stays corrupted: out of the vote
        repairs: list[ChunkRepair] = []
        result: VoteResult | None = None
        for attempt in range(1, self.max_reexecutions + 2):
            if attempt > 1:
                n["reexecutions"] += 1
            outputs = first if first is not None and attempt == 1 else self._run_all(frame)
            for pos in excluded:
                outputs[pos] = None
            result = vote(outputs, self.specs.outputs)
            for ins in self.instruments:
                ins.after_vote(self, result)
            if result.outcome is VoteOutcome.UNANIMOUS and not suspects:
                n["votes_unanimous"] += 1
                outcome = InferenceOutcome.CORRECTED if attempt > 1 else InferenceOutcome.UNANIMOUS
                return InferenceResult(outcome, result.outputs, frozenset(), attempt)
            if result.outcome is not VoteOutcome.UNANIMOUS:
                n["disagreements_verified"] += 1
                failing = [pos for pos, r in enumerate(self.replicas) if pos not in excluded and r.image.bad_chunks()]
                if failing:  # this vote proves nothing: repair and decide again
                    n["images_failed_verification"] += len(failing)
                    if not result.valid:  # a majority that lost to verification is not a failed vote
                        n["votes_failed"] += 1
                    excluded |= self._repair(failing, suspects, repairs)
                    continue
            if result.valid:  # every voting image verified: the losers computed wrongly
                for pos in result.suspects - excluded:
                    self._blame(pos, suspects)
                n["votes_corrected"] += 1
                return InferenceResult(InferenceOutcome.CORRECTED, result.outputs, frozenset(suspects), attempt,
                                       repairs=tuple(repairs))
            n["votes_failed"] += 1
        n["unrecoverable"] += 1
        return InferenceResult(
            InferenceOutcome.DETECTED_UNRECOVERABLE, None, frozenset(suspects), self.max_reexecutions + 1,
            result.reason if result else "", tuple(repairs),
        )

    def _blame(self, pos: int, suspects: set[int]) -> None:
        rid = self.replicas[pos].index
        if rid not in suspects:
            suspects.add(rid)
            self._suspects[rid] += 1

    def _repair(self, failing: list[int], suspects: set[int], repairs: list[ChunkRepair]) -> set[int]:
        """Repair the failing images; return the positions that still fail (left out of the vote)."""
        still = set()
        for pos in failing:
            self._blame(pos, suspects)
            replica = self.replicas[pos]
            if self.repair is not None:
                repairs.extend(self.repair(replica.index))
            if self.repair is None or replica.image.bad_chunks():
                still.add(pos)
        return still
