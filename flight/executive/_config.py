"""The flight configuration: schedule table, engine settings, health limits.

Validated at start-up, loudly: every problem is a `ManifestError` naming the key, the value and the
limit (cFS tables are checked the same way before they are used). The default configuration ships
with the package (`flight/config/default.yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .._errors import ManifestError

TASKS = ("sense", "infer", "act", "scrub", "comm", "health")
EVERY_SLOT = ("sense", "infer", "act")


@dataclass(frozen=True)
class Schedule:
    minor_frame_hz: float
    minor_frames: int
    slots: tuple[tuple[str, ...], ...]
    budgets_ms: dict[str, float]
    scrub_budget_bytes: int
    boot_budget_bytes: int = 1 << 20  # weight bytes of boot work (golden runs, liveness) per health slot

    @property
    def minor_frame_s(self) -> float:
        return 1.0 / self.minor_frame_hz

    def tasks(self, cycle: int) -> tuple[str, ...]:
        """Tasks of the minor frame that `cycle` (1-based) falls in."""
        return self.slots[(cycle - 1) % self.minor_frames]


@dataclass(frozen=True)
class EngineConfig:
    redundancy: str
    scheduling: str
    max_reexecutions: int
    watchdog_ms: float


@dataclass(frozen=True)
class HealthConfig:
    suspect_limit: int
    suspect_window: int
    rebuild_limit: int
    due_limit: int
    due_window: int
    recovery_period: int
    ladder_cooldown: int


@dataclass(frozen=True)
class FlightConfig:
    schedule: Schedule
    engine: EngineConfig
    health: HealthConfig
    source: str = "default"


def _section(d: dict, key: str, where: str) -> dict:
    value = d.get(key)
    if not isinstance(value, dict):
        raise ManifestError(f"{where}.{key}: missing or not a mapping")
    return value


def _known(d: dict, keys: tuple[str, ...], where: str) -> None:
    """A key the flight does not read is a mistake (a typo silently keeps the default): refuse it."""
    unknown = sorted(str(k) for k in set(d) - set(keys))
    if unknown:
        raise ManifestError(f"{where}.{unknown[0]}: unknown key")


SCHEDULE_KEYS = ("minor_frame_hz", "minor_frames", "slots", "budgets_ms", "scrub_budget_bytes", "boot_budget_bytes")
ENGINE_KEYS = ("redundancy", "scheduling", "max_reexecutions", "watchdog_ms")
HEALTH_KEYS = ("suspect_limit", "suspect_window", "rebuild_limit", "due_limit", "due_window", "recovery_period",
               "ladder_cooldown")


def _number(d: dict, key: str, where: str, low: float, high: float, integer: bool = False) -> Any:
    if key not in d:
        raise ManifestError(f"{where}.{key}: missing")
    v = d[key]
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok:
        raise ManifestError(f"{where}.{key}: must be {'an integer' if integer else 'a number'}, got {v!r}")
    if not low <= v <= high:
        raise ManifestError(f"{where}.{key}: {v} outside [{low:g}, {high:g}]")
    return v


def _choice(d: dict, key: str, where: str, choices: tuple[str, ...]) -> str:
    v = d.get(key)
    if v not in choices:
        raise ManifestError(f"{where}.{key}: must be one of {', '.join(choices)}, got {v!r}")
    return v


def config_from_dict(d: Any, source: str = "config") -> FlightConfig:
    if not isinstance(d, dict):
        raise ManifestError(f"{source}: must be a mapping at top level")
    unknown = sorted(str(k) for k in set(d) - {"schedule", "engine", "health"})
    if unknown:
        raise ManifestError(f"{source}.{unknown[0]}: unknown section")
    s = _section(d, "schedule", source)
    where = f"{source}.schedule"
    _known(s, SCHEDULE_KEYS, where)
    minor_frames = _number(s, "minor_frames", where, 1, 1000, integer=True)
    slots = s.get("slots")
    if not isinstance(slots, list) or len(slots) != minor_frames:
        raise ManifestError(f"{where}.slots: must list {minor_frames} minor frames, got {len(slots) if isinstance(slots, list) else slots!r}")
    parsed = []
    for i, slot in enumerate(slots):
        if not isinstance(slot, list) or not all(isinstance(t, str) for t in slot):
            raise ManifestError(f"{where}.slots[{i}]: must be a list of task names")
        for t in slot:
            if t not in TASKS:
                raise ManifestError(f"{where}.slots[{i}]: unknown task {t!r} (one of {', '.join(TASKS)})")
        if len(set(slot)) != len(slot):
            raise ManifestError(f"{where}.slots[{i}]: a task is listed twice")
        missing = [t for t in EVERY_SLOT if t not in slot]
        if missing:
            raise ManifestError(f"{where}.slots[{i}]: every minor frame must include {missing[0]!r}")
        order = [slot.index(t) for t in EVERY_SLOT]
        if order != sorted(order):
            raise ManifestError(f"{where}.slots[{i}]: sense, infer and act must run in that order")
        parsed.append(tuple(slot))
    if not any("comm" in slot for slot in parsed):
        raise ManifestError(f"{where}.slots: no minor frame runs 'comm'; commands would never be heard")
    if not any("scrub" in slot for slot in parsed):
        raise ManifestError(f"{where}.slots: no minor frame runs 'scrub'; upsets would accumulate unchecked")
    if not any("health" in slot for slot in parsed):
        raise ManifestError(f"{where}.slots: no minor frame runs 'health'")
    budgets = s.get("budgets_ms")
    if not isinstance(budgets, dict):
        raise ManifestError(f"{where}.budgets_ms: missing or not a mapping")
    for t in TASKS:
        _number(budgets, t, f"{where}.budgets_ms", 0.001, 10_000)
    extra = sorted(set(budgets) - set(TASKS))
    if extra:
        raise ManifestError(f"{where}.budgets_ms.{extra[0]}: unknown task")
    schedule = Schedule(
        minor_frame_hz=float(_number(s, "minor_frame_hz", where, 0.1, 10_000)),
        minor_frames=minor_frames,
        slots=tuple(parsed),
        budgets_ms={t: float(budgets[t]) for t in TASKS},
        scrub_budget_bytes=_number(s, "scrub_budget_bytes", where, 64, 1 << 30, integer=True),
        boot_budget_bytes=_number(s, "boot_budget_bytes", where, 64, 1 << 40, integer=True)
        if "boot_budget_bytes" in s else Schedule.boot_budget_bytes,
    )
    e = _section(d, "engine", source)
    where = f"{source}.engine"
    _known(e, ENGINE_KEYS, where)
    engine = EngineConfig(
        redundancy=_choice(e, "redundancy", where, ("tmr", "duplex", "simplex")),
        scheduling=_choice(e, "scheduling", where, ("serial", "pooled", "auto")),
        max_reexecutions=_number(e, "max_reexecutions", where, 0, 10, integer=True),
        watchdog_ms=float(_number(e, "watchdog_ms", where, 0, 60_000)),
    )
    h = _section(d, "health", source)
    where = f"{source}.health"
    _known(h, HEALTH_KEYS, where)
    health = HealthConfig(
        suspect_limit=_number(h, "suspect_limit", where, 1, 10_000, integer=True),
        suspect_window=_number(h, "suspect_window", where, 1, 10_000_000, integer=True),
        rebuild_limit=_number(h, "rebuild_limit", where, 0, 100, integer=True),
        due_limit=_number(h, "due_limit", where, 1, 10_000, integer=True),
        due_window=_number(h, "due_window", where, 1, 10_000_000, integer=True),
        recovery_period=_number(h, "recovery_period", where, 1, 10_000_000, integer=True),
        ladder_cooldown=_number(h, "ladder_cooldown", where, 1, 100_000_000, integer=True),
    )
    return FlightConfig(schedule, engine, health, source)


def read_config_text(path: Path | str | None = None) -> tuple[str, str]:
    """The text of a configuration file and its name; None reads the packaged default."""
    if path is None:
        return resources.files("flight").joinpath("config/default.yaml").read_text(), "default.yaml"
    path = Path(path)
    try:
        return path.read_text(), path.name
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable ({getattr(exc, 'strerror', None) or exc.__class__.__name__})") from None


def load_config(path: Path | str | None = None) -> FlightConfig:
    """Load and validate a configuration file; None loads the packaged default."""
    return parse_config(*read_config_text(path))


def parse_config(text: str, source: str = "config") -> FlightConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ManifestError(f"{source}: not valid YAML") from None
    return config_from_dict(data, source)
