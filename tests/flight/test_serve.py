"""`flight serve` on loopback: answers NOOP over UDP, sends housekeeping, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from flight import CommandCode, Housekeeping, TmType
from ground._link import GroundLink, send_command

ROOT = Path(__file__).resolve().parents[2]


def free_udp_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_serve_answers_noop_sends_housekeeping_and_stops_on_sigterm_losing_nothing():
    tc_port, tm_port = free_udp_ports(2)
    link = GroundLink("127.0.0.1", tc_port, tm_port)  # listening before the flight starts sending
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flight", "serve", "--model", str(ROOT / "models" / "lander-discrete"),
         "--tc-port", str(tc_port), "--tm-port", str(tm_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Wait until the flight is up: its first telemetry arrives.
        first = link.receive(timeout=30.0)
        assert first is not None, "no telemetry from flight serve within 30 s"
        received = [first]
        outcome = send_command(link, CommandCode.NOOP, (), seq_count=77, timeout=10.0, seen=received)
        assert outcome.accepted and outcome.completed and outcome.reason == ""
        # Collect a few major frames of telemetry.
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and sum(p.type is TmType.HOUSEKEEPING for p in received) < 2:
            tm = link.receive(timeout=1.0)
            if tm is not None:
                received.append(tm)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        while (tm := link.receive(timeout=1.0)) is not None:
            received.append(tm)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        link.close()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    hks = [Housekeeping.unpack(p.data) for p in received if p.type is TmType.HOUSEKEEPING]
    assert len(hks) >= 2 and hks[-1].cmd_accepted >= 1 and hks[-1].mode == 0
    # Nothing lost: the telemetry sequence counts run without a gap from the first packet heard to
    # the last, and the final cycle's result went out although no comm slot followed it.
    seqs = [p.seq_count for p in received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    last_cycle = int(stderr.strip().splitlines()[-1].split()[3])
    results = [p for p in received if p.type is TmType.RESULT]
    assert results[-1].cycle == last_cycle


def test_ground_command_and_monitor_programs_talk_to_serve():
    tc_port, tm_port = free_udp_ports(2)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    flags = ["--tc-port", str(tc_port), "--tm-port", str(tm_port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "flight", "serve", "--model", str(ROOT / "models" / "lander-discrete"), *flags],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )

    def ground(*args, timeout=60):
        return subprocess.run([sys.executable, "-m", "ground", *args, *flags], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=timeout)

    try:
        # The flight needs a few seconds to boot; a command sent before it listens is simply lost.
        deadline = time.monotonic() + 60
        while True:
            noop = ground("command", "NOOP", "--json", "--timeout", "2")
            if noop.returncode == 0 or time.monotonic() > deadline:
                break
        assert noop.returncode == 0, noop.stderr
        assert json.loads(noop.stdout)["completed"] is True

        bad = ground("command", "SET_MODE", "SIDEWAYS")
        assert bad.returncode == 2 and "not a valid argument" in bad.stderr and "Traceback" not in bad.stderr

        refused = ground("command", "ROLLBACK", "--timeout", "5")  # slot B is empty: refused onboard
        assert refused.returncode == 1
        assert refused.stderr.startswith("ROLLBACK: accepted, then failed: REFUSED slot B does not verify")

        monitor = ground("monitor", "--json", "--count", "2", "--duration", "30")
        assert monitor.returncode == 0, monitor.stderr
        records = [json.loads(line) for line in monitor.stdout.splitlines()]
        hks = [r for r in records if r["type"] == "housekeeping"]
        assert len(hks) == 2 and hks[1]["cycle"] == hks[0]["cycle"] + 10
        assert hks[-1]["cmd_accepted"] >= 1 and hks[-1]["cmd_rejected"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
