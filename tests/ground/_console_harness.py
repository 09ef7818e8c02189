"""Start `flight serve` and `ground console` as subprocesses on free ports; talk to the console's HTTP API."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import _net  # noqa: E402
from _net import free_udp_ports  # noqa: E402,F401 (re-exported to the console tests)
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def wait_for(condition, timeout: float, what: str):
    """Poll `condition` until it returns a true value (returned), failing after `timeout` s."""
    return _net.wait_for(condition, timeout, what, tick_s=0.02)


def start_flight(tc_port: int, tm_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flight", "serve", "--model", str(ROOT / "models" / "lander-discrete"),
         "--tc-port", str(tc_port), "--tm-port", str(tm_port)],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class ConsoleProcess:
    """`ground console` on an HTTP port it chooses (read from its first line)."""

    def __init__(self, db: Path, tc_port: int, tm_port: int, token: str | None = "right-token-123",
                 extra: tuple[str, ...] = ()):
        cmd = [sys.executable, "-m", "ground", "console", "--tc-port", str(tc_port), "--tm-port", str(tm_port),
               "--http", "0", "--db", str(db), *extra]
        if token:
            cmd += ["--token", token]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        line = self.lines.get(timeout=30)
        assert line.startswith("ground console: http://"), line
        self.base = line.split()[2].rstrip("/")

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)

    def get(self, path: str):
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict, token: str | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(self.base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **({"X-Seuguard-Token": token} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)


def fake_campaign_reports(root: Path) -> Path:
    """A folder holding one campaign report as `fault-inject campaign --report` lays it out
    (summary.json, report.md, a PNG plot), and one folder that is not a report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = root / "campaigns" / "solar-storm-tmr"
    report.mkdir(parents=True)
    (report / "summary.json").write_text(json.dumps({"campaign": "solar-storm-tmr", "trials": 40}))
    (report / "report.md").write_text("# solar-storm-tmr\n\n| arm | crashed | 95% interval |\n|---|---|---|\n"
                                      "| tmr+scrub | 0/40 | [0.0%, 8.8%] |\n")
    fig = plt.figure(figsize=(3, 2))
    plt.bar(["simplex", "tmr"], [23, 0])
    fig.savefig(report / "outcomes.png")
    plt.close(fig)
    (root / "campaigns" / "not-a-report").mkdir()
    return root / "campaigns"
