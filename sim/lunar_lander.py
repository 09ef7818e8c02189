"""Gymnasium LunarLander-v3 as the world of a flight control loop.

Responsibility: turn the environment into what the executive sees (one batch-1 float32 sensor frame
per cycle) and turn voted model outputs back into actuator commands, so the same policy model and the
same voting run against a real closed-loop plant. Also supplies Gymnasium's own heuristic controller
as the fallback (the "last safe command" source) and classifies each episode at mission level.

Assumptions: one episode at a time per world; ``reset(seed)`` fully determines the episode given the
actions, so a fault-injection trial replays bit-exactly against its golden run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import gymnasium
import numpy as np
from gymnasium.envs.box2d import lunar_lander as _ll
from gymnasium.envs.box2d.lunar_lander import heuristic

Action = Union[int, np.ndarray]

OBS_DIM = 8
# Half the viewport width in world units: the scale of the normalised x coordinate state[0].
_HALF_W = _ll.VIEWPORT_W / _ll.SCALE / 2


@dataclass(frozen=True)
class EpisodeOutcome:
    """One episode's mission-level result, the unit fault-injection campaigns count."""

    seed: int
    steps: int
    episode_return: float
    outcome: str  # "landed" | "crashed" | "timed_out"


class LunarLanderWorld:
    """LunarLander-v3 seen through the model's interface: obs (1, 8) float32 in, action out.

    Batch 1 because golden vectors and replicas are only bit-identical at the batch shape that flies.
    """

    observation_name: str = "obs"
    model_inputs = (((1, OBS_DIM), "float32"),)  # what the model is fed: one batch-1 frame
    outcomes: tuple[str, ...] = ("landed", "crashed", "timed_out")
    success_outcome: str = "landed"

    def __init__(self, continuous: bool = False) -> None:
        self.continuous = bool(continuous)
        # Discrete: four engine commands' logits; continuous: two throttles.
        self.model_outputs = (((1, 2 if self.continuous else 4), "float32"),)
        self.env = gymnasium.make("LunarLander-v3", continuous=self.continuous)
        self._seed: int | None = None
        self._steps = 0
        self._return = 0.0
        self._terminated = False
        self._truncated = False

    def _frame(self, obs: np.ndarray) -> np.ndarray:
        # Contiguous (1, 8) float32: exactly the bytes the model input is bound to.
        return np.ascontiguousarray(np.asarray(obs, dtype=np.float32).reshape(1, OBS_DIM))

    def reset(self, seed: int) -> np.ndarray:
        """Start the episode fixed by ``seed``; return the first sensor frame, shape (1, 8)."""
        obs, _ = self.env.reset(seed=int(seed))
        self._seed = int(seed)
        self._steps = 0
        self._return = 0.0
        self._terminated = False
        self._truncated = False
        return self._frame(obs)

    def action_from_outputs(self, outputs: list[np.ndarray]) -> Action:
        """Map the model's outputs to an actuator command.

        Discrete: argmax of the logits (np.argmax takes the lowest index on ties, so equal logits
        give a defined command). Continuous: the first output clipped to the actuator range [-1, 1].
        """
        out = np.asarray(outputs[0])
        if self.continuous:
            return np.clip(out.reshape(-1)[:2], -1.0, 1.0).astype(np.float32)
        return int(np.argmax(out.reshape(-1)))

    def fallback_action(self, obs: np.ndarray) -> Action:
        """Gymnasium's heuristic controller: the command used when no valid vote is available."""
        s = np.asarray(obs, dtype=np.float32).reshape(-1)
        a = heuristic(self.env.unwrapped, s)
        if self.continuous:
            return np.asarray(a, dtype=np.float32)
        return int(a)

    def step(self, action: Action) -> tuple[np.ndarray, float, bool]:
        """Apply one command; return (next frame (1, 8) float32, reward, episode done)."""
        if self.continuous:
            action = np.asarray(action, dtype=np.float32).reshape(2)
        else:
            action = int(action)
        obs, reward, terminated, truncated, _ = self.env.step(action)
        self._steps += 1
        self._return += float(reward)
        self._terminated = bool(terminated)
        self._truncated = bool(truncated)
        return self._frame(obs), float(reward), bool(terminated or truncated)

    def outcome(self) -> EpisodeOutcome:
        """Classify the finished episode: crashed (body contact or left the screen), timed out, or landed."""
        if self._seed is None:
            raise RuntimeError("outcome() called before reset()")
        env = self.env.unwrapped
        # Same test as the environment's own termination, computed in float64 as it does.
        x_norm = (float(env.lander.position.x) - _HALF_W) / _HALF_W
        if env.game_over or abs(x_norm) >= 1.0:
            kind = "crashed"
        elif self._truncated and not self._terminated:
            # A lander that comes to rest on the very last step counts as landed.
            kind = "timed_out"
        else:
            kind = "landed"
        return EpisodeOutcome(self._seed, self._steps, self._return, kind)

    def close(self) -> None:
        """Release the Box2D world."""
        self.env.close()


def discrete() -> LunarLanderWorld:
    """The registered world `lunar-lander`: four engine commands, logits output."""
    return LunarLanderWorld(continuous=False)


def continuous() -> LunarLanderWorld:
    """The registered world `lunar-lander-continuous`: two throttles in [-1, 1]."""
    return LunarLanderWorld(continuous=True)
