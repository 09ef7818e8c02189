"""The flight configuration is validated at start-up, naming the key, the value and the limit."""

from __future__ import annotations

import copy

import pytest
import yaml

from flight import ManifestError, config_from_dict, load_config
from flight.executive._config import read_config_text


def default_dict() -> dict:
    return yaml.safe_load(read_config_text()[0])


def test_packaged_default_is_valid():
    config = load_config()
    assert config.schedule.minor_frame_hz == 50 and config.schedule.minor_frames == 10
    assert config.schedule.tasks(1)[:3] == ("sense", "infer", "act")
    assert config.schedule.tasks(11) == config.schedule.tasks(1)


def change(path: str, value):
    d = copy.deepcopy(default_dict())
    keys = path.split(".")
    target = d
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]
    last = keys[-1]
    if value is KeyError:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return d


@pytest.mark.parametrize("path, value, message", [
    ("schedule.minor_frame_hz", 0, r"^c\.schedule\.minor_frame_hz: 0 outside \[0\.1, 10000\]$"),
    ("schedule.minor_frames", 3, r"^c\.schedule\.slots: must list 3 minor frames, got 10$"),
    ("schedule.minor_frames", KeyError, r"^c\.schedule\.minor_frames: missing$"),
    ("schedule.slots.0", ["sense", "infer"], r"^c\.schedule\.slots\[0\]: every minor frame must include 'act'$"),
    ("schedule.slots.1", ["sense", "act", "infer"], r"^c\.schedule\.slots\[1\]: sense, infer and act must run in that order$"),
    ("schedule.slots.2", ["sense", "infer", "act", "dance"], r"^c\.schedule\.slots\[2\]: unknown task 'dance'"),
    ("schedule.budgets_ms.infer", "fast", r"^c\.schedule\.budgets_ms\.infer: must be a number, got 'fast'$"),
    ("schedule.scrub_budget_bytes", 1.5, r"^c\.schedule\.scrub_budget_bytes: must be an integer, got 1\.5$"),
    ("engine.redundancy", "quad", r"^c\.engine\.redundancy: must be one of tmr, duplex, simplex, got 'quad'$"),
    ("engine.max_reexecutions", -1, r"^c\.engine\.max_reexecutions: -1 outside \[0, 10\]$"),
    ("health.suspect_limit", True, r"^c\.health\.suspect_limit: must be an integer, got True$"),
    ("health", KeyError, r"^c\.health: missing or not a mapping$"),
])
def test_bad_configuration_is_refused_naming_key_value_and_limit(path, value, message):
    with pytest.raises(ManifestError, match=message):
        config_from_dict(change(path, value), source="c")


def test_a_schedule_without_comm_is_refused():
    d = default_dict()
    d["schedule"]["slots"] = [[t for t in slot if t != "comm"] for slot in d["schedule"]["slots"]]
    with pytest.raises(ManifestError, match=r"^c\.schedule\.slots: no minor frame runs 'comm'"):
        config_from_dict(d, source="c")


def test_unknown_section_is_refused():
    d = default_dict()
    d["extras"] = {}
    with pytest.raises(ManifestError, match=r"^c\.extras: unknown section$"):
        config_from_dict(d, source="c")


def test_unreadable_and_invalid_files_are_refused(tmp_path):
    with pytest.raises(ManifestError, match=r"nope\.yaml: unreadable"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("schedule: [unclosed")
    with pytest.raises(ManifestError, match=r"^bad\.yaml: not valid YAML$"):
        load_config(bad)


@pytest.mark.parametrize("section, key", [
    ("schedule", "foo"), ("schedule", "scrub_budget"), ("engine", "redundnacy"), ("health", "suspect_limt"),
    ("schedule.budgets_ms", "dance"),
])
def test_unknown_nested_key_is_refused_naming_its_path(section, key):
    d = default_dict()
    target = d
    for part in section.split("."):
        target = target[part]
    target[key] = 1
    message = r"unknown task$" if section.endswith("budgets_ms") else r"unknown key$"
    with pytest.raises(ManifestError, match=rf"^c\.{section.replace('.', '[.]')}\.{key}: {message}"):
        config_from_dict(d, source="c")


def test_optional_boot_budget_is_a_known_key():
    d = default_dict()
    d["schedule"]["boot_budget_bytes"] = 4096
    assert config_from_dict(d, source="c").schedule.boot_budget_bytes == 4096


def test_flight_fly_refuses_a_config_with_an_unknown_nested_key(tmp_path, capsys):
    from pathlib import Path

    from flight._cli import main

    model = Path(__file__).resolve().parents[2] / "models" / "lander-discrete"
    d = default_dict()
    d["schedule"]["foo"] = 3
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(d))
    assert main(["fly", "--model", str(model), "--config", str(path), "--episodes", "1"]) == 1
    assert capsys.readouterr().err == "flight: error: c.yaml.schedule.foo: unknown key\n"
