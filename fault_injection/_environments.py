"""Radiation environments: upsets per bit per day, drawn as a Poisson process over mission time.

Presets live as YAML beside this module (`environments/*.yaml`): leo, leo-saa, lunar, solar-storm,
geo. An `Environment` turns a rate, an exposed bit count and an acceleration factor into upset
arrival times (exponential gaps; SAA passes by thinning a process at the peak rate), so upsets
accumulate between scrub passes exactly as they would in orbit, only faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import numpy as np
import yaml

from ._errors import CampaignError

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Environment:
    name: str
    upsets_per_bit_per_day: float
    multi_bit_fraction: float = 0.0
    max_multiplicity: int = 2
    acceleration: float = 1.0
    saa_multiple: float = 1.0
    orbit_period_s: float = 0.0  # 0: no SAA passes
    saa_pass_s: float = 0.0
    description: str = ""
    source: str = ""

    def rate_per_bit_s(self, t: float = 0.0) -> float:
        """Upsets per bit per second of mission time at time t (acceleration included)."""
        base = self.upsets_per_bit_per_day * self.acceleration / SECONDS_PER_DAY
        if self.orbit_period_s > 0 and (t % self.orbit_period_s) < self.saa_pass_s:
            return base * self.saa_multiple
        return base

    @property
    def peak_rate_per_bit_s(self) -> float:
        base = self.upsets_per_bit_per_day * self.acceleration / SECONDS_PER_DAY
        return base * max(1.0, self.saa_multiple if self.orbit_period_s > 0 else 1.0)

    def mean_upsets(self, bits: int, seconds: float) -> float:
        """Expected upsets in `bits` over mission time [0, seconds) (SAA passes counted exactly)."""
        base = self.upsets_per_bit_per_day * self.acceleration / SECONDS_PER_DAY
        if self.orbit_period_s <= 0:
            return base * bits * seconds
        orbits, rest = divmod(seconds, self.orbit_period_s)
        in_saa = orbits * min(self.saa_pass_s, self.orbit_period_s) + min(rest, self.saa_pass_s)
        return base * bits * (seconds + (self.saa_multiple - 1) * in_saa)

    def next_upset(self, rng: np.random.Generator, bits: int, t: float) -> float:
        """Mission time of the next upset after t among `bits` bits (inf when the rate is zero)."""
        peak = self.peak_rate_per_bit_s * bits
        if peak <= 0:
            return math.inf
        while True:
            t += float(rng.exponential(1.0 / peak))
            if self.orbit_period_s <= 0 or rng.random() * peak <= self.rate_per_bit_s(t) * bits:
                return t

    def upset_times(self, rng: np.random.Generator, bits: int, t0: float, t1: float) -> list[float]:
        """Every upset time in [t0, t1)."""
        out, t = [], t0
        while True:
            t = self.next_upset(rng, bits, t)
            if t >= t1:
                return out
            out.append(t)

    def multiplicity(self, rng: np.random.Generator) -> int:
        """Bits hit by one upset: 1, or 2..max_multiplicity adjacent bits for the multi-bit fraction."""
        if self.multi_bit_fraction > 0 and rng.random() < self.multi_bit_fraction:
            return int(rng.integers(2, max(2, self.max_multiplicity) + 1))
        return 1


PRESETS = ("leo", "leo-saa", "lunar", "solar-storm", "geo")
_FIELDS = {"name", "description", "source", "upsets_per_bit_per_day", "multi_bit_fraction",
           "max_multiplicity", "acceleration", "saa_multiple", "orbit_period_s", "saa_pass_s"}


def environment_from_dict(d: Any, where: str = "environment") -> Environment:
    if not isinstance(d, dict):
        raise CampaignError(f"{where}: must be a mapping")
    unknown = sorted(set(d) - _FIELDS - {"preset"})
    if unknown:
        raise CampaignError(f"{where}.{unknown[0]}: unknown key")
    values: dict[str, Any] = {}
    for key, low, high in (("upsets_per_bit_per_day", 0.0, 1.0), ("multi_bit_fraction", 0.0, 1.0),
                           ("max_multiplicity", 1, 64), ("acceleration", 1e-9, 1e12), ("saa_multiple", 1.0, 1e6),
                           ("orbit_period_s", 0.0, 1e9), ("saa_pass_s", 0.0, 1e9)):
        if key in d:
            v = d[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high:
                raise CampaignError(f"{where}.{key}: must be a number in [{low:g}, {high:g}], got {v!r}")
            values[key] = int(v) if key == "max_multiplicity" else float(v)
    if "upsets_per_bit_per_day" not in values:
        raise CampaignError(f"{where}.upsets_per_bit_per_day: missing")
    return Environment(name=str(d.get("name", "custom")), description=str(d.get("description", "")),
                       source=str(d.get("source", "")), **values)


def load_preset(name: str) -> Environment:
    if name not in PRESETS:
        raise CampaignError(f"environment {name!r}: unknown preset (one of {', '.join(PRESETS)})")
    text = resources.files("fault_injection").joinpath(f"environments/{name}.yaml").read_text()
    return environment_from_dict(yaml.safe_load(text), f"preset {name}")


def resolve_environment(spec: Any, where: str = "environment") -> Environment:
    """A preset name, or a mapping with `preset:` plus overrides (acceleration, multipliers), or a
    full custom environment."""
    if isinstance(spec, str):
        return load_preset(spec)
    if isinstance(spec, dict) and "preset" in spec:
        base = load_preset(str(spec["preset"]))
        overrides = environment_from_dict({"upsets_per_bit_per_day": base.upsets_per_bit_per_day,
                                           **{k: v for k, v in spec.items() if k != "preset"}}, where)
        changed = {k: getattr(overrides, k) for k in spec if k not in ("preset", "name", "description", "source")}
        return replace(base, **changed)
    return environment_from_dict(spec, where)
