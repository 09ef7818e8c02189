"""`fault-inject flip`: one upset, flown against the same episodes without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fault_inject(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "fault_injection", *args], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)


def test_an_upset_under_tmr_is_outvoted_repaired_and_changes_no_landing():
    result = fault_inject("flip", "--model", "models/lander-discrete", "--tensor", "fc3.bias", "--element", "0",
                          "--bit", "30", "--replica", "1", "--cycle", "5", "--episodes", "2", "--json")
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    clean, upset = runs["clean"], runs["upset"]
    assert clean["votes_corrected"] == 0 and clean["chunks_repaired"] == 0
    assert upset["votes_corrected"] == 1 and upset["chunks_repaired"] == 1
    assert upset["landed"] == clean["landed"] == 2
    assert upset["telemetry_sha256"] != clean["telemetry_sha256"]


def test_a_fault_outside_the_model_is_refused_in_one_line():
    result = fault_inject("flip", "--model", "models/lander-discrete", "--tensor", "nope", "--episodes", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fault-inject: error: --tensor nope: not a live tensor")
