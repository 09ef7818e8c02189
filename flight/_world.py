"""The sensor/actuator interface: how the world reaches the flight.

`flight` never imports `sim`: a world is bound by its registered name at run time. Code is never
chosen by data: a model's manifest (or `--world`) names a world, and the name is looked up among the
`seuguard.worlds` entry points that installed packages declare (as pytest finds plugins); anything
else is refused with the list of registered names. A world declares the model inputs it produces
and the model outputs it consumes (`model_inputs`, `model_outputs`: (shape, dtype) pairs), and a
model is checked against them before it flies.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol

import numpy as np

from ._errors import ManifestError

WORLD_GROUP = "seuguard.worlds"
_METHODS = ("reset", "step", "action_from_outputs", "fallback_action", "outcome", "close")


class World(Protocol):
    model_inputs: tuple[tuple[tuple[int, ...], str], ...]  # (shape, dtype) of each model input it feeds
    model_outputs: tuple[tuple[tuple[int, ...], str], ...]  # (shape, dtype) of each model output it reads

    def reset(self, seed: int) -> np.ndarray:
        """Start an episode; return the first observation (the model's input)."""

    def action_from_outputs(self, outputs: list[np.ndarray]) -> Any:
        """Turn voted model outputs into an actuator command."""

    def fallback_action(self, observation: np.ndarray) -> Any:
        """The classical controller that flies when no trustworthy model output exists."""

    def step(self, action: Any) -> tuple[np.ndarray, float, bool]:
        """Apply a command; return (next observation, reward, episode done)."""

    def outcome(self) -> Any:
        """The finished episode's result (has .outcome, .episode_return, .steps, .seed)."""

    def close(self) -> None: ...


def registered_worlds() -> dict[str, Any]:
    """Every world an installed package registered, by name."""
    return {ep.name: ep for ep in entry_points(group=WORLD_GROUP)}


def load_world(name: str) -> World:
    """Build the world registered as `name`."""
    worlds = registered_worlds()
    ep = worlds.get(name)
    if ep is None:
        known = ", ".join(sorted(worlds)) or "none"
        raise ManifestError(f"world {name!r} is not registered (registered worlds: {known})")
    try:
        world = ep.load()()
    except ImportError as exc:
        raise ManifestError(f"world {ep.name!r}: cannot import {ep.value!r} ({exc})") from None
    missing = [m for m in _METHODS if not callable(getattr(world, m, None))]
    if missing or not hasattr(world, "model_inputs") or not hasattr(world, "model_outputs"):
        what = ", ".join(missing) or "model_inputs/model_outputs"
        raise ManifestError(f"world {ep.name!r}: {ep.value} returned a {type(world).__name__}, not a world (no {what})")
    world.registered_name = ep.name
    return world


def _describe(specs) -> str:
    return ", ".join(f"{list(shape)} {dtype}" for shape, dtype in specs) or "nothing"


def check_model_fits_world(manifest: Any, world: World) -> None:
    """Refuse a model whose inputs or outputs are not what the world feeds and reads, naming both."""
    name = getattr(world, "registered_name", type(world).__name__)
    model_in = tuple((tuple(s.shape), s.dtype) for s in manifest.inputs)
    model_out = tuple((tuple(s.shape), s.dtype) for s in manifest.outputs)
    want_in = tuple((tuple(shape), str(dtype)) for shape, dtype in world.model_inputs)
    want_out = tuple((tuple(shape), str(dtype)) for shape, dtype in world.model_outputs)
    if model_in != want_in:
        raise ManifestError(f"model {manifest.name} takes {_describe(model_in)}, but world {name} "
                            f"observes {_describe(want_in)}")
    if model_out != want_out:
        raise ManifestError(f"model {manifest.name} outputs {_describe(model_out)}, but world {name} "
                            f"acts on {_describe(want_out)}")
