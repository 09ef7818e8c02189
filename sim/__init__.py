"""The world the spacecraft flies in: adapters to Gymnasium environments.

Dependency rule: ``sim`` imports only gymnasium, numpy and (``sim.spacecraft``, the optional
``spacecraft`` extra, not imported here) Basilisk, never ``flight`` or ``ground``; the world reaches
the executive only through observations in and actions out.
"""

from sim.lunar_lander import EpisodeOutcome, LunarLanderWorld, continuous, discrete

__all__ = ["EpisodeOutcome", "LunarLanderWorld", "continuous", "discrete"]
