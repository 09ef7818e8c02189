"""The spacecraft under radiation: the campaign's mission trials fly the Basilisk world as they fly the
lander, with the world's own outcome table (pointed / saturated / missed) per redundancy mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_under_an_accelerated_solar_storm_tmr_points_as_fault_free_and_simplex_does_worse(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "fault_injection", "campaign", "campaigns/spacecraft.yaml",
                             "--workers", "2", "--json", "--report", str(tmp_path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr  # every gate held
    out = json.loads(result.stdout)
    modes = out["modes"] if "modes" in out else out["experiments"]["storm"]["modes"]
    clean, simplex, tmr = modes["fault-free"], modes["simplex"], modes["tmr+scrub"]
    assert set(clean) >= {"pointed", "saturated", "missed"} and "landed" not in clean  # the world's own outcomes
    assert tmr["pointed"] == clean["pointed"] == clean["trials"]
    assert tmr["sdc"] == 0 and tmr["corrected"] > 0  # upsets struck and were corrected
    assert simplex["pointed"] < clean["pointed"] and simplex["sdc"] > 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["experiments"]["storm"]["modes"]["tmr+scrub"]["mission_outcomes"] == ["pointed", "saturated", "missed"]
