"""Worlds: found by registered name only, and a model must fit the world it flies in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import flight._world as world_module
from flight import ManifestError, load_config, load_world, make_executive
from flight._world import WORLD_GROUP, registered_worlds
from sim.lunar_lander import LunarLanderWorld

ROOT = Path(__file__).resolve().parents[2]


def run_flight(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "flight", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_lander_worlds_are_registered_entry_points():
    assert {"lunar-lander", "lunar-lander-continuous"} <= set(registered_worlds())
    assert isinstance(load_world("lunar-lander"), LunarLanderWorld)


@pytest.mark.parametrize("name", ["os:system", "sim.lunar_lander:discrete", "builtins:print", ""])
def test_a_name_that_is_not_registered_is_refused_with_the_registered_ones(name):
    with pytest.raises(ManifestError, match=rf"^world {name!r} is not registered \(registered worlds: .*lunar-lander.*\)$"):
        load_world(name)


def test_a_registered_factory_that_does_not_build_a_world_is_refused(monkeypatch):
    fake = {"not-a-world": EntryPoint(name="not-a-world", value="builtins:object", group=WORLD_GROUP)}
    monkeypatch.setattr(world_module, "registered_worlds", lambda: fake)
    with pytest.raises(ManifestError, match=r"^world 'not-a-world': builtins:object returned a object, not a world \(no reset, "):
        load_world("not-a-world")


def test_a_discrete_model_does_not_fly_the_continuous_world(lander_store):
    world = LunarLanderWorld(continuous=True)
    try:
        with pytest.raises(ManifestError, match=r"^model lander-discrete outputs \[1, 4\] float32, but world "
                                                r"LunarLanderWorld acts on \[1, 2\] float32$"):
            make_executive(lander_store, load_config(), world)
    finally:
        world.close()


def test_flight_fly_refuses_a_model_that_does_not_fit_its_world_in_one_line():
    result = run_flight("fly", "--model", "models/lander-discrete", "--world", "lunar-lander-continuous",
                        "--episodes", "1", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "outputs [1, 4] float32, but world lunar-lander-continuous acts on [1, 2] float32" in lines[0]


def test_flight_fly_refuses_an_unregistered_world_and_never_runs_it(tmp_path):
    marker = tmp_path / "ran"
    result = run_flight("fly", "--model", "models/lander-discrete", "--world", f"os:system", "--episodes", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "is not registered (registered worlds: " in result.stderr and not marker.exists()
