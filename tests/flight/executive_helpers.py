"""Helpers for tests of the executive's components (fixtures are in conftest.py)."""

from __future__ import annotations

from pathlib import Path

from flight import EventId, Executive

LANDER = Path(__file__).resolve().parents[2] / "models" / "lander-discrete"


def step_until(executive: Executive, world, condition, limit: int = 1000) -> int:
    """Fly frames until `condition()` holds after one (bounded); return how many it took."""
    obs = world.reset(0)
    for n in range(1, limit + 1):
        result = executive.step([obs])
        if condition():
            return n
        obs, _, done = world.step(result.action)
        if done:
            obs = world.reset(executive.cycle)
    raise AssertionError(f"condition not met in {limit} cycles")


def event_texts(executive: Executive, event_id: EventId) -> list[str]:
    return [e.text for e in executive.events if e.id is event_id]
