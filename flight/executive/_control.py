"""Control: sense, infer, act. The vehicle is flown every minor frame, by the model or the fallback.

Responsibility: take the sensor frame once (checked against the flying model's input spec, CRC-32C
on capture), hand the same validated frame to the engine (its CRC re-checked at fan-out: a change
in between is a common-mode upset TMR cannot see), report what the vote found (suspects, and the
chunks the engine repaired when it verified a disagreement) to health and in events, and turn the voted output into a command, or fly the world's fallback controller when no
trustworthy output exists. Every decision goes down as a RESULT packet.

State: this frame's validated inputs and their CRC, and the voted outputs.
Counters (`statistics()`): input frames rejected, frames flown by the fallback.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .._crc import crc32c
from .._errors import InputRejected
from ..comms._packets import TmType
from ..engine._tmr import InferenceOutcome
from ..engine._validate import validate_inputs
from ._events import EventId
from ._health import Health
from ._modes import Mode
from ._models import ModelManager
from ._scrubbing import Scrubbing
from ._telemetry import Telemetry

MAX_RESULT_BYTES = 4096  # a voted output larger than this goes down as CRC, size and first bytes


@dataclass(frozen=True)
class ControlStatistics:
    inputs_rejected: int
    fallback_cycles: int


class Control:
    def __init__(self, models: ModelManager, health: Health, scrubbing: Scrubbing, telemetry: Telemetry,
                 actuate: Callable[[list[np.ndarray]], Any], fallback: Callable[[list[np.ndarray]], Any],
                 watchdog_ms: float):
        self.models, self.health, self.scrubbing, self.telemetry = models, health, scrubbing, telemetry
        self.actuate, self.fallback = actuate, fallback
        self.watchdog_ms = watchdog_ms
        self.frame: list[np.ndarray] | None = None  # this cycle's validated inputs
        self.outputs: tuple[np.ndarray, ...] | None = None
        self._frame_crc = 0
        self.reset_statistics()

    def reset_statistics(self) -> None:
        self.inputs_rejected = self.fallback_cycles = 0

    def statistics(self) -> ControlStatistics:
        return ControlStatistics(self.inputs_rejected, self.fallback_cycles)

    def _reject(self, reason: str) -> None:
        self.inputs_rejected += 1
        self.telemetry.event(EventId.INPUT_REJECTED_ERR, reason)

    def sense(self, inputs: list[np.ndarray]) -> None:
        """Capture the frame: check it against the input spec once and take its CRC before fan-out."""
        self.frame, self.outputs = None, None
        stack = self.models.stack
        try:
            if stack is not None:
                frame = validate_inputs(inputs, stack.model.manifest.inputs)
            elif all(isinstance(a, np.ndarray) and (a.dtype.kind != "f" or np.isfinite(a).all()) for a in inputs):
                frame = list(inputs)
            else:
                raise InputRejected("input frame contains NaN or infinity")
        except InputRejected as exc:
            self._reject(str(exc))
            return
        self._frame_crc = _frame_crc(frame)
        self.frame = frame

    def infer(self) -> None:
        stack, frame = self.models.stack, self.frame
        if stack is None or frame is None or self.health.mode is Mode.SAFE:
            return
        if _frame_crc(frame) != self._frame_crc:
            self._reject("sensor frame changed between capture and fan-out (CRC)")
            return
        engine = stack.engine
        timeouts_before = engine.watchdog_timeouts
        result = engine.infer(frame, validated=True)
        late = engine.watchdog_timeouts - timeouts_before
        if late:
            self.telemetry.event(EventId.REPLICA_DEADLINE_ERR, f"{late} replica run(s) abandoned at the "
                                 f"{self.watchdog_ms:g} ms deadline")
        repaired = {r.replica for r in result.repairs}
        for r in result.repairs:
            self.health.note_repaired(r.replica, (r.tensor, r.tensor_chunk))
        for rid in sorted(result.suspects):
            if rid not in repaired:
                self.health.note_suspect(rid)
            self.telemetry.event(EventId.VOTE_CORRECTED_LOW, f"replica {rid} outvoted")
        # The engine verified every image on the disagreement and repaired what failed, at once.
        self.scrubbing.report(result.repairs)
        if result.outcome is InferenceOutcome.DETECTED_UNRECOVERABLE:
            self.health.note_unrecoverable()
            self.telemetry.event(EventId.VOTE_NO_MAJORITY_ERR, f"after {result.attempts} attempts: {result.reason}")
            return
        self.outputs = result.outputs

    def act(self, inputs: list[np.ndarray]) -> Any:
        outputs = self.outputs
        if outputs is not None:
            action = self.actuate(list(outputs))
            raw = b"".join(np.ascontiguousarray(o).tobytes() for o in outputs)
            if len(raw) <= MAX_RESULT_BYTES:
                data = b"\x01" + raw
            else:  # too big for one packet: its CRC and size, and the first bytes
                data = b"\x02" + struct.pack(">II", crc32c(raw), len(raw)) + raw[:MAX_RESULT_BYTES]
        else:
            self.fallback_cycles += 1
            action = self.fallback(inputs)
            data = b"\x00"
        self.telemetry.packet(TmType.RESULT, data)
        return action


def _frame_crc(inputs: list[np.ndarray]) -> int:
    crc = 0
    for arr in inputs:
        crc = crc32c(np.ascontiguousarray(arr), crc) if isinstance(arr, np.ndarray) else crc
    return crc
