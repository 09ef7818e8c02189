"""Fixtures for the executive's components: a writable lander store and its world."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flight import SlotStore
from sim.lunar_lander import LunarLanderWorld

LANDER = Path(__file__).resolve().parents[2] / "models" / "lander-discrete"


@pytest.fixture
def lander_store(tmp_path) -> SlotStore:
    """A writable store with the discrete lander in slot A and slot B empty."""
    shutil.copytree(LANDER, tmp_path / "store" / "A")
    return SlotStore.open(tmp_path / "store")


@pytest.fixture
def lander_world():
    w = LunarLanderWorld(continuous=False)
    yield w
    w.close()
