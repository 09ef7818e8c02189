"""The sensor/actuator interface: how the world reaches the flight.

`flight` never imports `sim`: a world adapter is bound by name at run time ("module:factory", from
the model's manifest or `--world`), and the flight only uses this protocol.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import numpy as np

from ._errors import ManifestError


class World(Protocol):
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


def load_world(spec: str) -> World:
    """Build a world adapter from 'module:factory'."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ManifestError(f"world: expected 'module:factory', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ManifestError(f"world: cannot import {module_name!r} ({exc})") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ManifestError(f"world: {module_name!r} has no factory {attr!r}")
    return factory()
