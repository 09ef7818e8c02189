"""Boot: from a model folder to a verified, self-tested TMR stack.

Order matters and every step can refuse: read and check the files (sha256, every CRC), build the
replicas over their own images, run the golden vectors on every replica (a configuration mistake
shows up here before the model flies), prove every live tensor is live, then hand the images to one
scrubber and the replicas to one engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .._crc import CRC32C_HARDWARE
from .._instruments import Instrument
from ..engine._replica import LivenessReport, Replica, check_golden, prove_liveness
from ..engine._scrubber import Scrubber
from ..storage._model import StoredModel, open_model
from ..engine._tmr import Redundancy, Scheduling, TMREngine


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


def boot(
    model_dir: Path | str,
    redundancy: Redundancy | str = Redundancy.TMR,
    scheduling: Scheduling | str = Scheduling.AUTO,
    max_reexecutions: int = 2,
    scrub_budget_bytes: int = 64 * 1024,
    instruments: Sequence[Instrument] = (),
    prove: bool = True,
    watchdog_s: float = 0.0,
) -> FlightStack:
    model = open_model(model_dir)
    redundancy = Redundancy(redundancy)
    replicas = [Replica(i, model) for i in range(redundancy.replicas)]
    not_live: set[str] = set(model.manifest.unprotected)
    for replica in replicas:
        check_golden(replica)
        if prove:
            report: LivenessReport = prove_liveness(replica)
            not_live |= set(report.not_live)
    engine = TMREngine(replicas, redundancy, scheduling, max_reexecutions, instruments, watchdog_s)
    scrubber = Scrubber([r.image for r in replicas], model.reload_chunk, scrub_budget_bytes, instruments)
    boot_report = BootReport(
        model=model.manifest.name,
        version=model.manifest.version,
        live_tensors=len([t for t in model.manifest.live_tensors if t.name not in not_live]),
        not_live=tuple(sorted(not_live)),
        image_bytes=replicas[0].image.nbytes,
        crc32c_hardware=CRC32C_HARDWARE,
    )
    return FlightStack(model, replicas, engine, scrubber, boot_report)
