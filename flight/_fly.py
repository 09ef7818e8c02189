"""`flight fly`: fly episodes of a world with the TMR engine in the loop.

One cycle: observe → validate → TMR infer → vote → act; then scrub the named suspects at once and
spend the cycle's scrub budget. A detected unrecoverable result never reaches the actuators: the
world's classical fallback controller flies that cycle and it is counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ._boot import FlightStack
from ._errors import InputRejected
from ._instruments import Instrument
from ._telemetry import TelemetryDigest
from ._tmr import InferenceOutcome
from ._world import World


@dataclass
class FlightSummary:
    model: str
    redundancy: str
    scheduling: str
    episodes: int
    landed: int
    crashed: int
    timed_out: int
    returns_ge_200: int
    mean_return: float
    cycles: int
    votes_unanimous: int
    votes_corrected: int
    votes_failed: int
    reexecutions: int
    unrecoverable: int
    fallback_cycles: int
    inputs_rejected: int
    chunks_repaired: int
    chunks_reloaded: int
    chunks_unrepairable: int
    scrub_full_passes: int
    bytes_scrubbed: int
    not_live: list[str]
    crc32c_hardware: bool
    telemetry_sha256: str
    per_episode: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def counters(stack: FlightStack, extra: Sequence[int] = ()) -> list[int]:
    e, s = stack.engine.statistics(), stack.scrubber.statistics()
    return [
        e.inferences, e.votes_unanimous, e.votes_corrected, e.votes_failed, e.reexecutions,
        e.unrecoverable, e.replica_errors, *e.suspects,
        s.bytes_scrubbed, s.chunks_checked, s.chunks_repaired, s.chunks_reloaded,
        s.chunks_unrepairable, s.full_passes, *extra,
    ]


def fly(
    stack: FlightStack,
    world: World,
    episodes: int,
    seed: int,
    instruments: Sequence[Instrument] = (),
    on_episode: Callable[[Any], None] | None = None,
) -> FlightSummary:
    digest = TelemetryDigest()
    cycle = 0
    fallback_cycles = inputs_rejected = 0
    outcomes = []
    for ep in range(episodes):
        obs = world.reset(seed + ep)
        done = False
        while not done:
            cycle += 1
            for ins in instruments:
                ins.cycle_start(cycle, stack)
            outputs = None
            try:
                result = stack.engine.infer([obs])
                outputs = result.outputs
                for replica in sorted(result.suspects):
                    stack.scrubber.repair_replica(replica)
            except InputRejected:
                inputs_rejected += 1
            if outputs is None:
                fallback_cycles += 1
                action = world.fallback_action(obs)
            else:
                action = world.action_from_outputs(list(outputs))
            stack.scrubber.scrub_step()
            digest.update(cycle, [obs], outputs, counters(stack, (fallback_cycles, inputs_rejected)))
            obs, _reward, done = world.step(action)
        outcome = world.outcome()
        outcomes.append(outcome)
        if on_episode is not None:
            on_episode(outcome)
    e, s = stack.engine.statistics(), stack.scrubber.statistics()
    returns = [o.episode_return for o in outcomes]
    return FlightSummary(
        model=stack.boot.model,
        redundancy=stack.engine.redundancy.value,
        scheduling=stack.engine.scheduling.value,
        episodes=episodes,
        landed=sum(o.outcome == "landed" for o in outcomes),
        crashed=sum(o.outcome == "crashed" for o in outcomes),
        timed_out=sum(o.outcome == "timed_out" for o in outcomes),
        returns_ge_200=sum(r >= 200 for r in returns),
        mean_return=float(np.mean(returns)) if returns else 0.0,
        cycles=cycle,
        votes_unanimous=e.votes_unanimous,
        votes_corrected=e.votes_corrected,
        votes_failed=e.votes_failed,
        reexecutions=e.reexecutions,
        unrecoverable=e.unrecoverable,
        fallback_cycles=fallback_cycles,
        inputs_rejected=inputs_rejected,
        chunks_repaired=s.chunks_repaired,
        chunks_reloaded=s.chunks_reloaded,
        chunks_unrepairable=s.chunks_unrepairable,
        scrub_full_passes=s.full_passes,
        bytes_scrubbed=s.bytes_scrubbed,
        not_live=list(stack.boot.not_live),
        crc32c_hardware=stack.boot.crc32c_hardware,
        telemetry_sha256=digest.hexdigest(),
        per_episode=[
            {"seed": o.seed, "outcome": o.outcome, "return": round(float(o.episode_return), 3), "steps": o.steps}
            for o in outcomes
        ],
    )
