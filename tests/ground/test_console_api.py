"""`ground console` without a browser: history, 'latest', malformed telemetry, commanding, restart."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time

import pytest

import aiohttp  # noqa: E402,F401  (the console extra, which `make` installs: missing is a failure, not a skip)

from ground._console import OPENMCT_DIST
from ground._console_store import HistoryStore, query_json

from _console_harness import ROOT, ConsoleProcess, fake_campaign_reports, free_udp_ports, start_flight, wait_for

pytestmark = pytest.mark.skipif(not (OPENMCT_DIST / "openmct.js").is_file(), reason="Open MCT not installed: run make")


@pytest.fixture(scope="module")
def link():
    tc_port, tm_port = free_udp_ports(2)
    flight = start_flight(tc_port, tm_port)
    yield tc_port, tm_port
    flight.terminate()
    flight.wait(timeout=15)


@pytest.fixture
def console(link, tmp_path):
    c = ConsoleProcess(tmp_path / "history.sqlite", *link)
    yield c
    if c.proc.poll() is None:
        c.stop()


def _housekeeping_seen(console, n):
    return wait_for(lambda: console.get("/api/status")["housekeeping"] >= n, 60, f"{n} housekeeping packets")


def test_history_returns_housekeeping_rows_by_time_range_and_latest_returns_one(console):
    t0 = int(time.time() * 1000)
    _housekeeping_seen(console, 6)
    rows = console.get(f"/api/history/hk.cycle?start={t0 - 60_000}&end={int(time.time() * 1000)}")
    assert len(rows) >= 6
    cycles = [r["value"] for r in rows]
    assert cycles == sorted(cycles) and len(set(cycles)) == len(cycles)  # advancing, one row per packet
    assert all(r["cycle"] == r["value"] for r in rows)
    middle = rows[len(rows) // 2]["timestamp"]
    later = console.get(f"/api/history/hk.cycle?start={middle}&end={int(time.time() * 1000)}")
    assert later and all(r["timestamp"] >= middle for r in later) and len(later) < len(rows) + 10
    latest = console.get(f"/api/history/hk.cycle?strategy=latest&start=0&end={int(time.time() * 1000)}")
    assert len(latest) == 1 and latest[0]["value"] >= rows[-1]["value"]
    mode = console.get("/api/history/hk.mode?strategy=latest")
    assert mode[0]["value"] == 0  # NOMINAL
    assert console.get("/api/history/timing.overruns?strategy=latest")  # the timing report is stored too


def test_malformed_and_truncated_telemetry_is_counted_and_the_console_keeps_going(console, link):
    _housekeeping_seen(console, 1)
    _, tm_port = link
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for junk in (b"\x00", b"not a packet at all", bytes.fromhex("08c8c0000010") + b"\x20\x03\x19"):
        s.sendto(junk, ("127.0.0.1", tm_port))
    s.close()
    wait_for(lambda: console.get("/api/status")["malformed"] >= 3, 10, "three malformed packets counted")
    before = console.get("/api/status")["housekeeping"]
    _housekeeping_seen(console, before + 2)  # still receiving and decoding
    assert console.proc.poll() is None


def test_noop_with_the_right_token_completes_and_is_logged_with_the_operator(console):
    _housekeeping_seen(console, 1)
    status, outcome = console.post("/api/command", {"command": "NOOP", "operator": "alice"}, token="right-token-123")
    assert status == 200 and outcome["completed"] and outcome["report"] == "COMPLETED" and outcome["cycle"] > 0
    log = console.get("/api/commands")
    assert log[0]["operator"] == "alice" and log[0]["remote"] == "127.0.0.1" and log[0]["name"] == "NOOP"
    assert log[0]["outcome"]["completed"] is True


def test_a_wrong_token_is_refused_with_403_and_nothing_is_sent(console):
    _housekeeping_seen(console, 1)
    for token in ("wrong-token-123", None):
        status, reply = console.post("/api/command", {"command": "NOOP", "operator": "mallory"}, token=token)
        assert status == 403 and reply["error"] == "wrong token"
    assert console.get("/api/status")["commands_sent"] == 0
    before = console.get("/api/history/hk.cmd_accepted?strategy=latest")[0]["value"]
    n = console.get("/api/status")["housekeeping"]
    _housekeeping_seen(console, n + 3)
    assert console.get("/api/history/hk.cmd_accepted?strategy=latest")[0]["value"] == before
    assert console.get("/api/history/tc.verification?start=0") == []
    assert [e["outcome"] for e in console.get("/api/commands")] == [{"refused": "wrong token"}] * 2


def test_hazardous_commands_need_confirmation_and_bad_arguments_are_refused(console):
    _housekeeping_seen(console, 1)
    status, reply = console.post("/api/command", {"command": "ROLLBACK", "operator": "bob"}, token="right-token-123")
    assert status == 409 and "confirm" in reply["error"]
    status, reply = console.post("/api/command", {"command": "SET_MODE", "args": ["SAFE"], "operator": "bob"},
                                 token="right-token-123")
    assert status == 409
    status, reply = console.post("/api/command", {"command": "SET_SCRUB_BUDGET", "args": ["1"], "operator": "bob"},
                                 token="right-token-123")
    assert status == 400 and "outside" in reply["error"]
    status, reply = console.post("/api/command", {"command": "RESET_COUNTERS", "operator": "bob"}, token="right-token-123")
    assert status == 400
    assert console.get("/api/status")["commands_sent"] == 0


def test_the_history_survives_a_console_restart(link, tmp_path):
    db = tmp_path / "history.sqlite"
    first = ConsoleProcess(db, *link)
    _housekeeping_seen(first, 3)
    stopped_at = int(time.time() * 1000)
    before = first.get(f"/api/history/hk.cycle?start=0&end={stopped_at}")
    assert first.stop() == 0
    second = ConsoleProcess(db, *link)
    try:
        again = second.get(f"/api/history/hk.cycle?start=0&end={before[-1]['timestamp']}")
        assert again == before
    finally:
        second.stop()


def test_retention_deletes_only_samples_older_than_it(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite", retention_hours=1)
    now = 10 * 3_600_000
    for age_min in (90, 61, 59, 1):
        store.add("hk.cycle", now - age_min * 60_000, age_min, age_min)
    store.flush()
    assert store.prune(now) == 2
    store.close()
    assert [r for r in __import__("json").loads(query_json(tmp_path / "h.sqlite", "hk.cycle", 0, now))] == [
        {"timestamp": now - 59 * 60_000, "cycle": 59, "value": 59}, {"timestamp": now - 60_000, "cycle": 1, "value": 1}]


def test_an_unusable_database_is_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    r = subprocess.run([sys.executable, "-m", "ground", "console", "--db", str(bad), "--http", "0",
                        "--tm-port", str(free_udp_ports(1)[0])], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "history database" in r.stderr


def test_campaign_reports_are_listed_and_served_and_nothing_outside_them(tmp_path):
    import urllib.error
    import urllib.request

    campaigns = fake_campaign_reports(tmp_path)
    (tmp_path / "secret.md").write_text("not for the browser")
    console = ConsoleProcess(tmp_path / "h.sqlite", *free_udp_ports(2), extra=("--campaigns", str(campaigns)))
    try:
        listed = console.get("/api/campaigns")
        assert [(c["name"], c["report"], c["summary"], c["plots"]) for c in listed] == [
            ("solar-storm-tmr", True, True, ["outcomes.png"])]
        with urllib.request.urlopen(console.base + "/campaigns/solar-storm-tmr/outcomes.png") as r:
            assert r.read()[:8] == b"\x89PNG\r\n\x1a\n"
        assert console.get("/campaigns/solar-storm-tmr/summary.json")["trials"] == 40
        for bad in ("/campaigns/solar-storm-tmr/..%2F..%2Fsecret.md", "/campaigns/..%2F/secret.md",
                    "/campaigns/not-a-report/x.md", "/campaigns/solar-storm-tmr/missing.png"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(console.base + bad)
            assert err.value.code == 404, bad
    finally:
        console.stop()


def test_a_short_token_is_a_usage_error_and_a_taken_port_is_one_line_and_exit_1(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ground", "console", "--token", "short", "--db", str(tmp_path / "h.db")],
                       cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "at least 8 characters" in r.stderr
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    try:
        r = subprocess.run([sys.executable, "-m", "ground", "console", "--tm-port", str(taken.getsockname()[1]),
                            "--http", "0", "--db", str(tmp_path / "h.db")], cwd=ROOT, capture_output=True, text=True,
                           timeout=30)
    finally:
        taken.close()
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "cannot listen" in r.stderr, r.stderr
