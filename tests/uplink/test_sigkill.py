"""Process death during an uplink: SIGKILL at random points of receiving, verifying, staging and
activating, 100 times or more; after each restart the flight boots a fully verified model (old or
new, never a mix), no slot is corrupted undetected, and the next uplink still works.

The kills run in tests/uplink/kill_driver.py, a process of its own that forks every flight (see
its docstring for why)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_anywhere_in_an_uplink_never_leaves_a_store_that_boots_wrong(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "uplink" / "kill_driver.py"), str(tmp_path), "120", "9"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["failures"] == [], (summary["failures"], result.stderr[-2000:])
    assert summary["kills"] >= 100
    assert summary["clean_uplinks"] == 12  # every 10th round flies its uplink to the end, after the kills before it
    assert summary["killed_after_acceptance"] > 0  # some kills landed after the sequence was accepted
