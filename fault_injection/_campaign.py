"""Campaign files: what to inject, where, how often, in which redundancy modes, and the gates.

A campaign is one experiment, or a suite with an `experiments:` list whose entries inherit the
top-level keys. Every mistake fails loudly with the key and the reason (`CampaignError`), before
any trial runs.

    name: ci                         # required
    model: models/lander-discrete    # a model folder (relative to the working directory, else the file)
    seed: 1
    modes: [simplex, duplex, tmr, tmr+scrub]
    kind: inference                  # inference | mission
    fault: {model: single, max_bits: 8, same_element: false}
    targets: {weights: 1.0}          # mix of weights | input | input-before-crc | output
    trials: 3000                     # or margin: 0.01 (sample size per Leveugle et al.)
    environment: {preset: solar-storm, acceleration: 300}   # mission campaigns
    episodes: 200                    # mission campaigns
    flight_config: my-flight.yaml    # mission campaigns: the flight configuration (default: packaged)
    gates: ["tmr+scrub.sdc_rate_ci95.upper < 0.001"]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flight import SeuguardError, load_manifest, parse_config

from ._environments import Environment, resolve_environment
from ._errors import CampaignError
from ._models import FAULT_MODELS, MISSION_TARGETS, TARGETS
from ._stats import leveugle_sample_size

MODES = ("simplex", "duplex", "tmr", "tmr+scrub")
KINDS = ("inference", "mission")
_EXPERIMENT_KEYS = {"name", "kind", "model", "seed", "modes", "fault", "targets", "trials", "margin",
                    "environment", "episodes", "shard_size", "deadline_ms", "world", "flight_config"}
_TOP_KEYS = _EXPERIMENT_KEYS | {"experiments", "gates", "description"}


@dataclass(frozen=True)
class FaultSpec:
    model: str = "single"
    max_bits: int = 8
    same_element: bool = False


@dataclass(frozen=True)
class Experiment:
    name: str
    kind: str
    model: str  # model folder, resolved to an absolute path
    seed: int
    modes: tuple[str, ...]
    fault: FaultSpec
    targets: tuple[tuple[str, float], ...]
    trials: int
    shard_size: int
    deadline_ms: float
    environment: Environment | None = None
    episodes: int = 0
    world: str = ""
    flight_config: str = ""  # flight configuration YAML text for mission trials ("" = the packaged default)

    def to_dict(self) -> dict[str, Any]:
        """Plain data to ship to a worker process (and to rebuild the experiment there)."""
        from dataclasses import asdict
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Experiment":
        d = dict(d)
        d["fault"] = FaultSpec(**d["fault"])
        d["targets"] = tuple(tuple(t) for t in d["targets"])
        d["modes"] = tuple(d["modes"])
        if d.get("environment") is not None:
            d["environment"] = Environment(**d["environment"])
        return cls(**d)


@dataclass(frozen=True)
class Campaign:
    name: str
    experiments: tuple[Experiment, ...]
    gates: tuple[str, ...] = ()
    suite: bool = False  # several experiments: results are keyed by experiment
    source: str = ""
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _int(d: dict, key: str, where: str, low: int, high: int, default: int | None = None) -> int:
    if key not in d:
        if default is None:
            raise CampaignError(f"{where}.{key}: missing")
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise CampaignError(f"{where}.{key}: must be an integer in [{low}, {high}], got {v!r}")
    return v


def _number(d: dict, key: str, where: str, low: float, high: float, default: float) -> float:
    if key not in d:
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high:
        raise CampaignError(f"{where}.{key}: must be a number in [{low:g}, {high:g}], got {v!r}")
    return float(v)


def _resolve_model(value: Any, where: str, base: Path) -> str:
    if not isinstance(value, str) or not value:
        raise CampaignError(f"{where}.model: must be a model folder path, got {value!r}")
    for candidate in (Path(value), base / value):
        if (candidate / "manifest.yaml").is_file():
            return str(candidate.resolve())
    raise CampaignError(f"{where}.model: {value}: no model folder (manifest.yaml) there")


def _population(model: str, fault: FaultSpec, targets: list[str]) -> float:
    """How many distinct single-bit weight faults there are (Leveugle's N): every bit of every live
    tensor in each of three replicas. Other fault models and targets: an infinite population."""
    if fault.model != "single" or targets != ["weights"]:
        return math.inf
    manifest = load_manifest(Path(model) / "manifest.yaml")
    return float(sum(t.nbytes for t in manifest.live_tensors) * 8 * 3)


def _experiment(d: dict, where: str, base: Path) -> Experiment:
    unknown = sorted(set(d) - _EXPERIMENT_KEYS)
    if unknown:
        raise CampaignError(f"{where}.{unknown[0]}: unknown key (one of {', '.join(sorted(_EXPERIMENT_KEYS))})")
    name = d.get("name")
    if not isinstance(name, str) or not name or "." in name:
        raise CampaignError(f"{where}.name: must be a non-empty string without dots, got {name!r}")
    kind = d.get("kind", "inference")
    if kind not in KINDS:
        raise CampaignError(f"{where}.kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    model = _resolve_model(d.get("model"), where, base)
    seed = _int(d, "seed", where, 0, 2**63 - 1, 0)
    modes = d.get("modes", list(MODES))
    if not isinstance(modes, list) or not modes or any(m not in MODES for m in modes) or len(set(modes)) != len(modes):
        raise CampaignError(f"{where}.modes: must be a list of distinct modes from {', '.join(MODES)}, got {modes!r}")
    f = d.get("fault", {"model": "single"})
    if not isinstance(f, dict):
        raise CampaignError(f"{where}.fault: must be a mapping")
    bad = sorted(set(f) - {"model", "max_bits", "same_element"})
    if bad:
        raise CampaignError(f"{where}.fault.{bad[0]}: unknown key")
    if f.get("model", "single") not in FAULT_MODELS:
        raise CampaignError(f"{where}.fault.model: must be one of {', '.join(FAULT_MODELS)}, got {f.get('model')!r}")
    if not isinstance(f.get("same_element", False), bool):
        raise CampaignError(f"{where}.fault.same_element: must be true or false")
    fault = FaultSpec(f.get("model", "single"), _int(f, "max_bits", f"{where}.fault", 1, 64, 8),
                      f.get("same_element", False))
    t = d.get("targets", {"weights": 1.0})
    if isinstance(t, str):
        t = {t: 1.0}
    if not isinstance(t, dict) or not t:
        raise CampaignError(f"{where}.targets: must map targets to weights, e.g. {{weights: 1.0}}")
    targets = []
    for k, v in t.items():
        if k not in TARGETS:
            raise CampaignError(f"{where}.targets.{k}: unknown target (one of {', '.join(TARGETS)})")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise CampaignError(f"{where}.targets.{k}: must be a positive weight, got {v!r}")
        targets.append((k, float(v)))
    environment, episodes, trials = None, 0, 0
    if kind == "inference":
        if "trials" in d and "margin" in d:
            raise CampaignError(f"{where}.trials: give trials or margin, not both")
        if "margin" in d:
            trials = leveugle_sample_size(_number(d, "margin", where, 1e-6, 0.5, 0.05),
                                          _population(model, fault, [k for k, _ in targets]))
        else:
            trials = _int(d, "trials", where, 1, 100_000_000)
        if "environment" in d or "episodes" in d:
            raise CampaignError(f"{where}.{'environment' if 'environment' in d else 'episodes'}: only for kind: mission")
        if "state" in t:
            raise CampaignError(f"{where}.targets.state: only for kind: mission (executive state lives in the executive)")
    else:
        bad = [k for k, _ in targets if k not in MISSION_TARGETS]
        if bad:
            raise CampaignError(f"{where}.targets.{bad[0]}: mission campaigns target {' or '.join(MISSION_TARGETS)}")
        if "environment" not in d and "weights" in t:
            raise CampaignError(f"{where}.environment: missing (a preset name or a mapping)")
        if "environment" in d:
            environment = resolve_environment(d["environment"], f"{where}.environment")
        episodes = _int(d, "episodes", where, 1, 10_000_000)
        trials = episodes
        if fault.model not in ("single", "mbu"):
            raise CampaignError(f"{where}.fault.model: mission campaigns draw upsets from the environment "
                                f"(single or mbu), got {fault.model!r}")
    flight_config = ""
    if "flight_config" in d:
        if kind != "mission":
            raise CampaignError(f"{where}.flight_config: only for kind: mission")
        value = d["flight_config"]
        path = next((p for p in (Path(str(value)), base / str(value)) if p.is_file()), None)
        if not isinstance(value, str) or path is None:
            raise CampaignError(f"{where}.flight_config: {value!r}: no such file")
        flight_config = path.read_text()
        try:
            parse_config(flight_config, path.name)
        except SeuguardError as exc:
            raise CampaignError(f"{where}.flight_config: {exc}") from None
    shard_default = 1000 if kind == "inference" else 25
    return Experiment(
        name=name, kind=kind, model=model, seed=seed, modes=tuple(modes), fault=fault, targets=tuple(targets),
        trials=trials, shard_size=_int(d, "shard_size", where, 1, 10_000_000, shard_default),
        deadline_ms=_number(d, "deadline_ms", where, 0.001, 3.6e6, 1000.0 if kind == "inference" else 600_000.0),
        environment=environment, episodes=episodes, world=str(d.get("world", "")), flight_config=flight_config,
    )


def campaign_from_dict(d: Any, source: str = "campaign", base: Path | None = None) -> Campaign:
    if not isinstance(d, dict):
        raise CampaignError(f"{source}: must be a mapping at top level")
    unknown = sorted(set(d) - _TOP_KEYS)
    if unknown:
        raise CampaignError(f"{source}.{unknown[0]}: unknown key")
    base = base or Path.cwd()
    name = d.get("name")
    if not isinstance(name, str) or not name:
        raise CampaignError(f"{source}.name: missing or not a string")
    gates = d.get("gates", [])
    if not isinstance(gates, list) or not all(isinstance(g, str) for g in gates):
        raise CampaignError(f"{source}.gates: must be a list of strings such as 'tmr.sdc == 0'")
    shared = {k: v for k, v in d.items() if k not in ("experiments", "gates", "description")}
    if "experiments" in d:
        exps = d["experiments"]
        if not isinstance(exps, list) or not exps:
            raise CampaignError(f"{source}.experiments: must be a non-empty list")
        built = []
        for i, e in enumerate(exps):
            if not isinstance(e, dict):
                raise CampaignError(f"{source}.experiments[{i}]: must be a mapping")
            built.append(_experiment({**{k: v for k, v in shared.items() if k != "name"}, **e},
                                     f"{source}.experiments[{i}]", base))
        names = [e.name for e in built]
        if len(set(names)) != len(names):
            raise CampaignError(f"{source}.experiments: experiment names must be distinct")
        campaign = Campaign(name, tuple(built), tuple(gates), True, source, str(d.get("description", "")))
    else:
        campaign = Campaign(name, (_experiment(shared, source, base),), tuple(gates), False, source,
                            str(d.get("description", "")))
    from ._gates import parse_gate  # gates are checked before any trial runs
    for i, g in enumerate(campaign.gates):
        parse_gate(g, f"{source}.gates[{i}]")
    return campaign


def load_campaign(path: Path | str) -> Campaign:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"{path}: unreadable ({getattr(exc, 'strerror', None) or exc.__class__.__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise CampaignError(f"{path.name}: not valid YAML{where}") from None
    return campaign_from_dict(data, path.name, path.parent)
