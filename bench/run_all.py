"""Run every benchmark, one after another, and summarise their TARGET lines.

Benchmarks report, tests judge: a MISS does not fail this script (exit 0). A benchmark that
crashes does (exit 1), because then nothing was measured.

    python bench/run_all.py [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCHES = ("bench_tmr.py", "bench_crc.py", "bench_repair.py", "bench_vote.py", "bench_verify.py", "bench_executive.py",
           "bench_commanding.py", "bench_campaign.py", "bench_uplink.py", "bench_spacecraft.py")


def main() -> int:
    extra = [a for a in sys.argv[1:] if a == "--quick"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    targets: list[str] = []
    crashed: list[str] = []
    t_all = time.perf_counter()
    for name in BENCHES:
        cmd = [sys.executable, str(HERE / name), *extra]
        print(f"$ python bench/{name} {' '.join(extra)}".rstrip(), flush=True)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if line.startswith("TARGET "):
                targets.append(line.rstrip())
        rc = proc.wait()
        print(f"   ({name}: {time.perf_counter() - t0:.1f} s, exit {rc})\n", flush=True)
        if rc != 0:
            crashed.append(name)
    print("== summary ==")
    for line in targets:
        print(line)
    n_miss = sum(line.split("->")[-1].strip().startswith("MISS") for line in targets)
    print(f"{len(targets)} targets: {len(targets) - n_miss} PASS, {n_miss} MISS"
          + (f"; CRASHED: {', '.join(crashed)}" if crashed else "")
          + f"  ({time.perf_counter() - t_all:.0f} s)")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
