"""A batch run that did not fly the model says so; onboard, SAFE on the fallback is right and stays.

`flight fly` exits 1 with one line naming why the model did not boot (and `ok: false` with the
error in --json), and also when the model booted but never flew a cycle; `flight serve` prints the
boot failure at start, keeps flying SAFE and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import ground
from flight._cli import main

from _net import free_udp_ports

ROOT = Path(__file__).resolve().parents[2]
LANDER = ROOT / "models" / "lander-discrete"


def corrupted_copy(tmp_path: Path, how: str) -> Path:
    d = tmp_path / "m"
    shutil.copytree(LANDER, d)
    model = d / "model.onnx"
    if how == "flipped":
        data = bytearray(model.read_bytes())
        data[len(data) // 3] ^= 4
        model.write_bytes(bytes(data))
    elif how == "truncated":
        model.write_bytes(model.read_bytes()[:1000])
    elif how == "missing":
        model.unlink()
    return d


@pytest.mark.parametrize("how, reason", [("flipped", "sha256"), ("truncated", "sha256"), ("missing", "missing")])
def test_fly_on_a_corrupted_model_exits_1_naming_the_boot_failure(tmp_path, capsys, how, reason):
    d = corrupted_copy(tmp_path, how)
    assert main(["fly", "--model", str(d), "--episodes", "1", "--quiet"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "Traceback" not in out.err
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("flight: error: the model did not boot: slot A: ")
    assert f"{d / 'model.onnx'}" in lines[0] and reason in lines[0]


def test_fly_json_says_the_model_did_not_boot(tmp_path, capsys):
    d = corrupted_copy(tmp_path, "flipped")
    assert main(["fly", "--model", str(d), "--episodes", "1", "--json"]) == 1
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert result["ok"] is False and result["error"].startswith("the model did not boot: slot A: ")
    assert len(out.err.splitlines()) == 1


def test_fly_on_the_intact_model_exits_0(capsys):
    """Not vacuous: the same run on the committed model flies and succeeds."""
    assert main(["fly", "--model", str(LANDER), "--episodes", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fallback_cycles"] == 0


def test_fly_fails_when_the_model_booted_but_never_flew(tmp_path, capsys):
    """Every observation outside the declared input range: the fallback flies every cycle."""
    narrow = tmp_path / "narrow"
    ground.package_model(LANDER / "model.onnx", narrow, golden_count=2, input_ranges={"obs": (0.0, 0.0)},
                         world="lunar-lander")
    assert main(["fly", "--model", str(narrow), "--episodes", "1", "--json"]) == 1
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert result["ok"] is False and result["fallback_cycles"] == result["cycles"] > 0
    assert out.err.splitlines() == ["flight: error: the model never flew: the fallback controller flew every cycle"]


def test_serve_on_a_corrupted_model_says_so_at_start_and_keeps_flying_safe(tmp_path):
    d = corrupted_copy(tmp_path, "flipped")
    tc, tm = free_udp_ports(2)
    telemetry = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    telemetry.bind(("127.0.0.1", tm))
    telemetry.settimeout(60)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "flight", "serve", "--model", str(d), "--tc-port", str(tc),
                             "--tm-port", str(tm)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # waits for the event: the first thing serve says
        second = proc.stderr.readline()
        assert first.startswith("flight: boot failed, flying SAFE on the fallback controller: slot A: ")
        assert "sha256" in first
        assert second.startswith("flight: serving (SAFE, no model)")
        telemetry.recv(65535)  # the loop is flying SAFE and sending housekeeping (its signal handlers are set)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == 0
    finally:
        telemetry.close()
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in rest and rest.startswith("flight: stopped after "), rest
