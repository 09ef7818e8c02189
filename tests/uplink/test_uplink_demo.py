"""`make uplink-demo` as a test: flight serve receives a signed patch over a 10% loss link, verifies and
stages it, and flies it after ACTIVATE_SLOT; housekeeping shows every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_patch_uplinked_to_flight_serve_is_verified_staged_and_activated():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "scripts/uplink_demo.py", "--json"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["uplink"]["delivered"] is True
    assert out["uplink"]["bytes_on_link"] <= 2 * out["patch"]["patch_bytes"]
    hk = out["housekeeping"]
    assert hk["active_slot"] == 1 and hk["mode"] == 0  # slot B flies, NOMINAL
    assert hk["uplink_files"] >= 1 and hk["uplink_refusals"] == 0 and hk["uplink_highest_sequence"] == 1
    assert hk["cmd_accepted"] == 1 and hk["cmd_rejected"] == 0
