"""`flight fly`: fly episodes of a world with the executive (and so the TMR engine) in the loop.

The world is driven as fast as it computes (one `step` per minor frame of logical time); a paced,
real-time loop is `flight serve`. Telecommands may be injected at given cycles (tests, replay).
The mission outcomes counted come from the world: it declares `outcomes` (the names, in report
order) and `success_outcome`; a world that declares none is counted as the lander.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .executive._config import FlightConfig
from .executive._executive import Executive
from .executive._modes import Mode
from ._instruments import Instrument
from .storage._store import SlotStore
from ._errors import ManifestError
from ._world import World, check_model_fits_world


@dataclass
class FlightSummary:
    model: str
    redundancy: str
    scheduling: str
    episodes: int
    outcomes: dict[str, int]  # mission outcome -> episodes, keys as the world declares them
    success: int  # episodes that ended in the world's success outcome
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
    mode_transitions: int
    overruns: int
    safe_mode_cycles: int
    watchdog_timeouts: int
    final_mode: str
    cmd_accepted: int
    cmd_rejected: int
    not_live: list[str]
    crc32c_hardware: bool
    telemetry_sha256: str
    events: list[str] = field(default_factory=list)
    per_episode: list[dict[str, Any]] = field(default_factory=list)

    def __getattr__(self, name: str) -> int:
        """An outcome count read by name (summary.landed, summary.pointed)."""
        outcomes = self.__dict__.get("outcomes") or {}
        if name in outcomes:
            return outcomes[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """Flat: each outcome count is a top-level key beside `episodes` and `success`."""
        d = asdict(self)
        out: dict[str, Any] = {}
        for key, value in d.items():
            if key == "outcomes":
                out.update(value)
            else:
                out[key] = value
        return out


# Worlds written before outcomes were declared are landers.
DEFAULT_OUTCOMES = ("landed", "crashed", "timed_out")
DEFAULT_SUCCESS = "landed"
_EPISODE_KEYS = ("seed", "outcome", "episode_return", "steps")


def make_executive(
    store: SlotStore,
    config: FlightConfig,
    world: World,
    instruments: Sequence[Instrument] = (),
    redundancy: str | None = None,
    scheduling: str | None = None,
    recorder: Any = None,
    uplink: Any = None,
    auto_activate: bool = False,
) -> Executive:
    """An executive wired to a world: voted outputs become commands, the fallback is the world's.
    A model that does not fit the world (its inputs and outputs against what the world feeds and
    reads) is refused before it flies."""
    executive = Executive(
        store,
        config,
        actuate=world.action_from_outputs,
        fallback=lambda inputs: world.fallback_action(inputs[0]),
        instruments=instruments,
        redundancy=redundancy,
        scheduling=scheduling,
        recorder=recorder,
        uplink=uplink,
        auto_activate=auto_activate,
    )
    if executive.stack is not None:
        try:
            check_model_fits_world(executive.stack.model.manifest, world)
        except ManifestError:
            executive.close()
            raise
    return executive


def _episode_record(o: Any) -> dict[str, Any]:
    record = {"seed": o.seed, "outcome": o.outcome, "return": round(float(o.episode_return), 3), "steps": o.steps}
    if is_dataclass(o):  # whatever else the world measured (final pointing error, ...)
        record.update({f.name: getattr(o, f.name) for f in fields(o) if f.name not in _EPISODE_KEYS})
    return record


def summarize(executive: Executive, outcomes: list, episodes: int,
              outcome_keys: Sequence[str] = DEFAULT_OUTCOMES, success_outcome: str = DEFAULT_SUCCESS) -> FlightSummary:
    """The flight's summary; every counter is taken by name from the executive's statistics."""
    stats = executive.statistics()
    counts = {key: 0 for key in outcome_keys}
    for o in outcomes:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    returns = [o.episode_return for o in outcomes]
    stack = executive.stack
    engine = stack.engine if stack is not None else None
    counters = {f.name: stats[f.name] for f in fields(FlightSummary) if f.name in stats and f.name != "events"}
    return FlightSummary(
        model=stack.boot.model if stack is not None else "(none)",
        redundancy=executive.redundancy.value,
        scheduling=engine.scheduling.value if engine is not None else executive.scheduling.value,
        episodes=episodes,
        outcomes=counts,
        success=sum(o.outcome == success_outcome for o in outcomes),
        returns_ge_200=sum(r >= 200 for r in returns),
        mean_return=float(np.mean(returns)) if returns else 0.0,
        cycles=executive.cycle,
        final_mode=Mode(executive.mode).name,
        not_live=list(stack.boot.not_live) if stack is not None else [],
        crc32c_hardware=stack.boot.crc32c_hardware if stack is not None else False,
        telemetry_sha256=executive.digest.hexdigest(),
        events=[str(e) for e in executive.events],
        per_episode=[_episode_record(o) for o in outcomes],
        **counters,
    )


def fly(
    executive: Executive,
    world: World,
    episodes: int,
    seed: int,
    telecommands: dict[int, list[bytes]] | None = None,
    on_episode: Callable[[Any], None] | None = None,
) -> FlightSummary:
    """Fly `episodes` episodes (episode i on seed + i); `telecommands` maps a cycle to packets
    uplinked just before that cycle runs."""
    outcomes = []
    telecommands = telecommands or {}
    for ep in range(episodes):
        obs = world.reset(seed + ep)
        done = False
        while not done:
            for packet in telecommands.get(executive.cycle + 1, ()):
                executive.uplink(packet)
            result = executive.step([obs])
            obs, _reward, done = world.step(result.action)
        outcomes.append(world.outcome())
        if on_episode is not None:
            on_episode(outcomes[-1])
    executive.flush_telemetry()
    return summarize(executive, outcomes, episodes, getattr(world, "outcomes", DEFAULT_OUTCOMES),
                     getattr(world, "success_outcome", DEFAULT_SUCCESS))
