"""The ground console: does it keep up with `flight serve` at 50 Hz, what CPU does it take beside
the flight, and what does a 24-hour history query cost through its HTTP API against a direct
SQLite SELECT of the same rows (same run, interleaved rounds).

    python bench/bench_console.py [--quick] [--duration S] [--no-browser]

Keep-up: flight serve and ground console as subprocesses for --duration seconds (default 60; the
issue's 5 minutes do not fit a shared 2-core machine's session, say so when recording), with the
default layout open in headless Chromium when /usr/bin/chromium is installed. Dropped telemetry is
the CCSDS sequence-count gaps the console counted; CPU is each process's user+system time over
the wall time (from /proc).

History: a database with 24 h of housekeeping at 1 Hz (every field: 44 keys, 3.8 M rows), the
console serving it; the query is one key (hk.cycle) over 24 h = 86,400 rows. The HTTP time is
until the whole JSON body has arrived; the SELECT time is until Python holds every row.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "ground"))

from _common import target  # noqa: E402
from _console_harness import ConsoleProcess, free_udp_ports, start_flight, wait_for  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_browser(url: str):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1600,1000",
                f"--user-data-dir={tempfile.mkdtemp(prefix='bench-chromium-')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.get(url)
    return driver


def keep_up(duration: float, browser: bool) -> None:
    tc_port, tm_port = free_udp_ports(2)
    with tempfile.TemporaryDirectory() as tmp:
        console = ConsoleProcess(Path(tmp) / "h.sqlite", tc_port, tm_port)
        flight = start_flight(tc_port, tm_port)
        driver = None
        try:
            wait_for(lambda: console.get("/api/status")["housekeeping"] >= 2, 60, "first housekeeping")
            driver = open_browser(console.base + "/") if browser else None
            start = console.get("/api/status")
            c0, f0, t0 = cpu_seconds(console.proc.pid), cpu_seconds(flight.pid), time.monotonic()
            time.sleep(duration)  # the measurement window itself
            c1, f1, t1 = cpu_seconds(console.proc.pid), cpu_seconds(flight.pid), time.monotonic()
            end = console.get("/api/status")
        finally:
            if driver is not None:
                driver.quit()
            flight.send_signal(signal.SIGTERM)
            flight.wait(timeout=30)
            console.stop()
    wall = t1 - t0
    packets = end["packets"] - start["packets"]
    cycles = end["last_cycle"] - start["last_cycle"]
    gaps = end["sequence_gaps"] - start["sequence_gaps"]
    print(f"keep-up over {wall:.1f} s ({'default layout open in Chromium' if driver else 'no browser'}): "
          f"{packets} packets ({packets / wall:.1f}/s), {cycles} cycles ({cycles / wall:.1f} Hz), "
          f"{end['housekeeping'] - start['housekeeping']} housekeeping, {gaps} missing by sequence count, "
          f"{end['malformed'] - start['malformed']} malformed, {end['rows_written'] - start['rows_written']} rows stored")
    print(f"CPU: console {100 * (c1 - c0) / wall:.1f}% of a core, flight {100 * (f1 - f0) / wall:.1f}% "
          f"(console / flight = {(c1 - c0) / max(f1 - f0, 1e-9):.2f}x)")
    target("telemetry packets dropped by the console at 50 Hz", gaps, 0, unit=" packets")


def build_day(path: Path, rate_hz: float = 1.0) -> tuple[int, int]:
    """24 h of housekeeping ending now, every field, at `rate_hz`; returns (start, end) ms."""
    from ground._console_dictionary import dictionary

    keys = [m["key"] for m in dictionary() if m["key"].startswith("hk.")]
    end = int(time.time() * 1000)
    start = end - 24 * 3_600_000
    step = int(1000 / rate_hz)
    db = sqlite3.connect(path)
    from ground._console_store import _SCHEMA

    db.executescript(_SCHEMA)
    with db:
        for i, t in enumerate(range(start, end, step)):
            cycle = i * 50
            db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)",
                           [(k, t, cycle, cycle if k == "hk.cycle" else i % 7) for k in keys])
    db.close()
    return start, end


def history(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "day.sqlite"
        t = time.perf_counter()
        start, end = build_day(path)
        print(f"built 24 h of housekeeping at 1 Hz in {time.perf_counter() - t:.1f} s "
              f"({path.stat().st_size / 1e6:.0f} MB)")
        tc_port, tm_port = free_udp_ports(2)
        console = ConsoleProcess(path, tc_port, tm_port)
        url = f"{console.base}/api/history/hk.cycle?start={start}&end={end}"
        direct = sqlite3.connect(path)

        def select():
            return direct.execute("SELECT t, cycle, value FROM samples WHERE key = ? AND t >= ? AND t <= ? ORDER BY t",
                                  ("hk.cycle", start, end)).fetchall()

        def http():
            with urllib.request.urlopen(url, timeout=60) as r:
                return r.read()

        try:
            rows = len(select())
            body = http()
            assert body.count(b'"timestamp"') == rows, "the API must return the same rows"
            times: dict[str, list[float]] = {"select": [], "http": []}
            for r in range(rounds):
                for name, fn in ((("select", select), ("http", http)) if r % 2 else (("http", http), ("select", select))):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
        finally:
            direct.close()
            console.stop()
    ratios = [h / s for h, s in zip(times["http"], times["select"])]
    print(f"24 h query of one key, {rows} rows ({len(body) / 1e6:.1f} MB of JSON): SELECT median "
          f"{1e3 * statistics.median(times['select']):.1f} ms, HTTP API median {1e3 * statistics.median(times['http']):.1f} ms")
    target("24 h history query through the HTTP API / direct SQLite SELECT", statistics.median(ratios), 2.0,
           note=f"best-of-rounds {min(times['http']) / min(times['select']):.2f}x, {rounds} rounds")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="15 s keep-up, 5 query rounds")
    ap.add_argument("--duration", type=float, help="keep-up seconds (default 60; 15 with --quick)")
    ap.add_argument("--no-browser", action="store_true", help="do not open the layout in Chromium")
    args = ap.parse_args()
    print("== bench_console: ground console keep-up and history queries ==")
    try:
        print(f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    except OSError:
        pass
    keep_up(args.duration or (15.0 if args.quick else 60.0), not args.no_browser)
    history(5 if args.quick else 15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
