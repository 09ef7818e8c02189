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

import queue
import threading

from flight import (
    CommandCode,
    Housekeeping,
    SlotStore,
    TmType,
    decode_tm,
    encode_command,
    load_config,
    make_executive,
)
from flight._serve import QueueLink, serve
from ground._link import GroundLink, send_command
from sim.lunar_lander import LunarLanderWorld

ROOT = Path(__file__).resolve().parents[2]

from _net import free_udp_ports, udp_port_bound, wait_for  # noqa: E402,F401 (shared loopback helpers)


def test_serve_answers_noop_sends_housekeeping_and_stops_on_sigterm_losing_nothing():
    tc_port, tm_port = free_udp_ports(2)
    stream = GroundLink("127.0.0.1", tc_port, tm_port)  # listening before the flight starts sending
    commands = GroundLink("127.0.0.1", tc_port, None)  # hears only the replies to its commands
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flight", "serve", "--model", str(ROOT / "models" / "lander-discrete"),
         "--tc-port", str(tc_port), "--tm-port", str(tm_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Wait until the flight is up: its first telemetry arrives.
        first = stream.receive(timeout=30.0)
        assert first is not None, "no telemetry from flight serve within 30 s"
        received = [first]
        outcome = send_command(commands, CommandCode.NOOP, (), seq_count=77, timeout=10.0)
        assert outcome.accepted and outcome.completed and outcome.reason == ""
        # Collect a few major frames of telemetry: the NOOP's reports are in the stream too.
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and sum(p.type is TmType.HOUSEKEEPING for p in received) < 2:
            tm = stream.receive(timeout=1.0)
            if tm is not None:
                received.append(tm)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        while (tm := stream.receive(timeout=1.0)) is not None:
            received.append(tm)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stream.close()
        commands.close()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert TmType.COMPLETED in {p.type for p in received}
    hks = [Housekeeping.unpack(p.data) for p in received if p.type is TmType.HOUSEKEEPING]
    assert len(hks) >= 2 and hks[-1].cmd_accepted >= 1 and hks[-1].mode == 0
    # Nothing lost: the telemetry sequence counts run without a gap from the first packet heard to
    # the last, and the final cycle's result went out although no comm slot followed it.
    seqs = [p.seq_count for p in received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    last_cycle = int(stderr.strip().splitlines()[-1].split()[3])
    results = [p for p in received if p.type is TmType.RESULT]
    assert results[-1].cycle == last_cycle


def test_serve_over_an_in_process_queue_in_a_thread():
    """The same loop over QueueLink: no sockets, no signals (not the main thread), stopped by an event."""
    shutil_store = SlotStore.single(ROOT / "models" / "lander-discrete")
    world = LunarLanderWorld()
    executive = make_executive(shutil_store, load_config(), world)
    link = QueueLink()
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(executive, world, link), kwargs={"stop": stop})
    thread.start()
    try:
        link.uplink.put(encode_command(CommandCode.NOOP, seq_count=1))
        link.uplink.put(b"\x17 not a packet")
        packets = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(p.type is TmType.HOUSEKEEPING for p in packets) < 1:
            try:
                packets.append(decode_tm(link.downlink.get(timeout=1)))
            except queue.Empty:
                pass
        # Queued at the very end: handled at shutdown, with their reports, although no comm slot follows.
        link.uplink.put(encode_command(CommandCode.NOOP, seq_count=2))
        wait_for(link.uplink.empty, 20, "serve took the last telecommand off the link")
        stop.set()
        thread.join(timeout=20)
        assert not thread.is_alive()
        while not link.downlink.empty():
            packets.append(decode_tm(link.downlink.get()))
    finally:
        stop.set()
        world.close()
    types = [p.type for p in packets]
    assert TmType.HOUSEKEEPING in types and types.count(TmType.REJECTED) == 1
    assert types.count(TmType.COMPLETED) == 2
    assert executive.housekeeping().cmd_accepted == 2 and executive.housekeeping().cmd_rejected == 1


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

        monitor_proc = subprocess.Popen(  # the monitor holds the stream while commands come and go
            [sys.executable, "-m", "ground", "monitor", "--json", "--duration", "8", *flags],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: udp_port_bound(tm_port), 30, "the monitor listens on the telemetry port")
        refused = ground("command", "ROLLBACK", "--timeout", "5")  # slot B is empty: refused onboard
        assert refused.returncode == 1
        assert refused.stderr.startswith("ROLLBACK: accepted, then failed: REFUSED slot B does not verify")

        out, err = monitor_proc.communicate(timeout=60)
        assert monitor_proc.returncode == 0, err
        records = [json.loads(line) for line in out.splitlines()]
        hks = [r for r in records if r["type"] == "housekeeping"]
        assert len(hks) >= 10 and all(b["cycle"] == a["cycle"] + 10 for a, b in zip(hks, hks[1:]))
        assert hks[-1]["cmd_accepted"] >= 1 and hks[-1]["cmd_rejected"] == 1
        assert any(r["type"] == "event" and r["id"] == "TC_REJECTED_ERR" for r in records)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0
