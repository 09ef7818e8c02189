"""Boot: from a model folder to a verified, self-tested TMR stack, in bounded steps.

Order matters and every step can refuse: read and check the files (sha256, every CRC), build the
replicas over their own images, run the golden vectors on every replica (a configuration mistake
shows up here before the model flies), prove every live tensor is live, then hand the images to one
scrubber and the replicas to one engine.

Booting a slot takes many inferences, far more than one 2 ms slot, so it is written as a generator
that yields the cost of each stage in bytes of weights touched. `BootJob` runs it a budget at a time
(as the scrubber scrubs), so the executive keeps flying while a slot boots; the cost model is
deterministic, so the cycle a boot completes on does not depend on the wall clock. `boot()` runs
the same stages to completion, for the ground, tests and start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator, Sequence

from .._crc import CRC32C_HARDWARE
from .._errors import SeuguardError
from .._instruments import Instrument
from ..engine._replica import LivenessReport, Replica, check_golden, prove_liveness
from ..engine._scrubber import Scrubber
from ..engine._tmr import Redundancy, Scheduling, TMREngine
from ..storage._model import StoredModel, open_model

Stages = Generator[int, None, object]  # yields the cost of each finished stage, returns the result


@dataclass(frozen=True)
class BootReport:
    model: str
    version: str
    live_tensors: int
    not_live: tuple[str, ...]  # float tensors not protected by live scrubbing (reported, not hidden)
    image_bytes: int
    crc32c_hardware: bool


@dataclass
class FlightStack:
    model: StoredModel
    replicas: list[Replica]
    engine: TMREngine
    scrubber: Scrubber
    boot: BootReport

    def close(self) -> None:
        self.engine.close()


def _model_bytes(model: StoredModel) -> int:
    return sum(t.nbytes for t in model.tensors.values()) or 1


def open_stages(model_dir: Path | str) -> Stages:
    """Read and check a model folder (one stage: sha256 and every CRC)."""
    model = open_model(model_dir)
    yield _model_bytes(model)
    return model


def replica_stages(model: StoredModel, index: int, prove: bool, not_live: set[str]) -> Stages:
    """Build one replica over its own image, run the golden vectors, prove its tensors live."""
    replica = Replica(index, model)
    size = replica.image.nbytes or 1
    yield size
    check_golden(replica)
    yield size * max(1, len(model.golden_inputs))
    if prove:
        report: LivenessReport = prove_liveness(replica)
        not_live |= set(report.not_live)
        yield size * 2 * max(1, len(model.manifest.live_tensors))
    return replica


def boot_stages(
    model_dir: Path | str,
    redundancy: Redundancy | str = Redundancy.TMR,
    scheduling: Scheduling | str = Scheduling.AUTO,
    max_reexecutions: int = 2,
    scrub_budget_bytes: int = 64 * 1024,
    instruments: Sequence[Instrument] = (),
    prove: bool = True,
    watchdog_s: float = 0.0,
) -> Stages:
    model: StoredModel = yield from open_stages(model_dir)
    redundancy = Redundancy(redundancy)
    not_live: set[str] = set(model.manifest.unprotected)
    replicas = []
    for i in range(redundancy.replicas):
        replicas.append((yield from replica_stages(model, i, prove, not_live)))
    engine = TMREngine(replicas, redundancy, scheduling, max_reexecutions, instruments, watchdog_s)
    scrubber = Scrubber([r.image for r in replicas], lambda c: model.reload_chunk(c.tensor, c.tensor_chunk),
                        scrub_budget_bytes, instruments,
                        [r.index for r in replicas])
    engine.repair = scrubber.repair_replica  # what verification on a disagreement repairs with
    boot_report = BootReport(
        model=model.manifest.name,
        version=model.manifest.version,
        live_tensors=len([t for t in model.manifest.live_tensors if t.name not in not_live]),
        not_live=tuple(sorted(not_live)),
        image_bytes=replicas[0].image.nbytes,
        crc32c_hardware=CRC32C_HARDWARE,
    )
    yield _model_bytes(model)
    return FlightStack(model, replicas, engine, scrubber, boot_report)


def run_to_completion(stages: Stages) -> object:
    while True:
        try:
            next(stages)
        except StopIteration as done:
            return done.value


def boot(model_dir: Path | str, **settings) -> FlightStack:
    """Boot a stack now (start-up, ground, tests); same stages as a `BootJob`."""
    return run_to_completion(boot_stages(model_dir, **settings))  # type: ignore[return-value]


class BootJob:
    """Long onboard work run a byte budget at a time; at least one stage per step, like the scrubber.

    `step` returns True once finished; then `result` holds what the stages returned, or `failure`
    the reason they refused (every refusal of a stage is a SeuguardError naming its cause)."""

    def __init__(self, stages: Stages, on_done: Callable[["BootJob"], None] | None = None, what: str = ""):
        self._stages = stages
        self.on_done = on_done
        self.what = what
        self.result: object = None
        self.failure = ""
        self.finished = False
        self.bytes_done = 0

    def step(self, budget_bytes: int) -> bool:
        spent = 0
        while not self.finished and (spent == 0 or spent < budget_bytes):
            try:
                spent += next(self._stages)
            except StopIteration as done:
                self.result, self.finished = done.value, True
            except SeuguardError as exc:
                self.failure, self.finished = str(exc) or exc.__class__.__name__, True
        self.bytes_done += spent
        return self.finished

    def cancel(self) -> None:
        self._stages.close()
        self.finished = True
        self.failure = self.failure or "cancelled"
