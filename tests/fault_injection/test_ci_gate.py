"""The CI gate: campaigns/ci.yaml run as a program, and what each experiment must show.

Runs once per module (about 45 s of CPU on two cores: 50-120 s of wall time depending on the
machine's load): 4,000 single-bit, 3,000 multi-bit, 3,000 paired and 1,000 input-frame inference
trials per mode, 200 boots from corrupted model files, 20 episodes with executive-state upsets,
and 200 lander episodes per mode under an accelerated solar storm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ci(tmp_path_factory):
    out = tmp_path_factory.mktemp("ci")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "fault_injection", "campaign", "campaigns/ci.yaml", "--workers", "2",
                           "--json", "--report", str(out / "report"), "--junit", str(out / "gates.xml")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    summary = json.loads((out / "report" / "summary.json").read_text())
    return proc, json.loads(proc.stdout), summary, out


def modes(summary, experiment):
    return summary["experiments"][experiment]["modes"]


def test_single_bit_weight_upsets_never_get_through_tmr_with_scrub_and_do_get_through_simplex(ci):
    _, _, summary, _ = ci
    m = modes(summary, "single")
    assert m["tmr+scrub"]["trials"] >= 3000
    assert m["tmr+scrub"]["sdc"] == 0 and m["tmr+scrub"]["sdc_rate_ci95"][1] < 0.001
    assert m["simplex"]["sdc"] > 0  # injection bites
    assert m["tmr+scrub"]["corrected"] > 0  # and the vote is what stopped it


def test_adjacent_multi_bit_upsets_up_to_8_bits_never_get_through_tmr_with_scrub(ci):
    _, _, summary, _ = ci
    m = modes(summary, "mbu")
    assert m["tmr+scrub"]["sdc"] == 0 and m["tmr+scrub"]["trials"] >= 3000
    assert m["simplex"]["sdc"] > 0


def test_two_upsets_in_two_replicas_between_scrub_passes_never_get_through_tmr_with_scrub(ci):
    _, _, summary, _ = ci
    m = modes(summary, "pair")
    assert m["tmr+scrub"]["trials"] >= 3000
    assert m["tmr+scrub"]["sdc"] == 0
    assert m["simplex"]["sdc"] > 0 and m["tmr+scrub"]["corrected"] > 0  # the pairs bite, and were verified away


def test_input_frame_upsets_after_capture_are_all_caught_by_the_frame_crc_and_before_capture_tmr_cannot_mask(ci):
    _, _, summary, _ = ci
    m = modes(summary, "input")
    after, before = m["tmr+scrub"]["targets"]["input"], m["tmr+scrub"]["targets"]["input-before-crc"]
    assert after["trials"] > 0 and after["due"] == after["trials"]  # detected, never silent
    assert before["sdc"] > 0  # a common-mode upset: every replica computes the same wrong answer
    assert before == m["simplex"]["targets"]["input-before-crc"]  # TMR does no better than one copy


def test_a_corrupted_stored_model_file_is_refused_at_boot_or_harmless_never_silent(ci):
    _, _, summary, _ = ci
    m = modes(summary, "storage")["tmr+scrub"]
    assert m["trials"] >= 200 and m["sdc"] == 0 and m["crash"] == 0
    assert m["due"] >= 0.9 * m["trials"]  # refused by sha256, CRC or golden-vector checks


def test_executive_state_upsets_in_flight_are_detected_or_harmless_and_never_silent(ci):
    _, _, summary, _ = ci
    m = modes(summary, "state")["tmr+scrub"]
    upsets = summary["experiments"]["state"]["examples"]["tmr+scrub"]["upsets"]
    assert m["upsets"] == m["trials"] == 20 and {r["hits"][0]["tensor"].split(":")[0] for r in upsets} == {"crc", "counter"}
    assert m["sdc"] == 0 and m["sdc_events"] == 0
    assert m["due"] > 0  # a corrupted reference CRC leaves a chunk nobody can repair: detected and reported
    assert m["landed"] == modes(summary, "state")["fault-free"]["landed"]


def test_under_an_accelerated_solar_storm_tmr_with_scrub_lands_as_often_as_fault_free_and_simplex_less(ci):
    _, _, summary, _ = ci
    m = modes(summary, "solar")
    assert m["fault-free"]["trials"] >= 200
    assert m["tmr+scrub"]["landed"] >= m["fault-free"]["landed"]
    assert m["tmr+scrub"]["sdc_events"] == 0
    assert m["simplex"]["landed"] < m["fault-free"]["landed"]


def test_under_an_accelerated_solar_storm_tmr_with_scrub_lands_exactly_the_fault_free_count(ci):
    _, _, summary, _ = ci
    m = modes(summary, "solar")
    assert m["tmr+scrub"]["landed"] == m["fault-free"]["landed"]
    assert m["tmr+scrub"]["due"] == 0  # independent upsets are repaired, never mistaken for a failing replica


def test_the_gate_exit_code_and_junit_report_name_each_failing_gate(ci):
    proc, out, summary, tmp = ci
    failed = [g["gate"] for g in summary["gates"] if not g["passed"]]
    assert proc.returncode == (1 if failed else 0)
    cases = ET.parse(tmp / "gates.xml").getroot().findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [g["gate"] for g in summary["gates"]]
    assert [c.get("name") for c in cases if c.find("failure") is not None] == failed
    assert set(out["experiments"]) == {"single", "mbu", "pair", "input", "storage", "state", "solar"}
    contract = {"trials", "masked", "corrected", "due", "sdc", "crash", "hang", "sdc_rate", "sdc_rate_ci95"}
    for mode in out["experiments"]["single"]["modes"].values():
        assert set(mode) == contract
    for mode in out["experiments"]["solar"]["modes"].values():
        assert set(mode) == contract | {"landed", "crashed", "timed_out"}
    assert (tmp / "report" / "report.md").is_file() and (tmp / "report" / "single-outcomes.png").is_file()
