"""Shared benchmark plumbing: interleaved timing, the plain-onnxruntime baseline, report lines.

Noise policy (2 shared cores): every variant is timed in the same process, in rounds; each round
times every variant back to back (in a rotating order) for about the same wall time. A ratio is
the median over rounds of (variant / baseline) from the same round, so slow drifts in machine load
cancel; the ratio of best-of-rounds is printed beside it. Absolute times are printed for context
only.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from _models import REPO  # noqa: F401  (puts the repo on sys.path)

import numpy as np


def parse_args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="smoke mode: fewer rounds, no 1e7 models")
    return ap.parse_args()


def machine_note() -> str:
    try:
        load = os.getloadavg()
        load_s = f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    except OSError:
        load_s = "load n/a"
    import onnxruntime as ort

    return (f"{platform.machine()} {os.cpu_count()} cores, {load_s}, python {platform.python_version()}, "
            f"onnxruntime {ort.__version__}, numpy {np.__version__}")


def tree_note() -> str:
    """Which code was measured: the commit, and the flight/ files that differ from it."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "flight", "ground"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
    except (OSError, subprocess.SubprocessError):
        return "git: n/a"
    return f"commit {head or '?'}" + (f", uncommitted: {' '.join(dirty)}" if dirty else ", flight/ground clean")


def header(title: str, quick: bool) -> None:
    print(f"== {title} ({'quick' if quick else 'full'}) ==")
    print(f"   {time.strftime('%Y-%m-%d %H:%M:%S')}  {machine_note()}")
    print(f"   code: {tree_note()}")


@dataclass
class Timings:
    per_call: dict[str, list[float]] = field(default_factory=dict)  # name -> seconds per call, per round

    def best(self, name: str) -> float:
        return min(self.per_call[name])

    def median(self, name: str) -> float:
        return statistics.median(self.per_call[name])

    def ratio(self, name: str, base: str) -> float:
        """Median over rounds of the same-round ratio name/base."""
        return statistics.median(a / b for a, b in zip(self.per_call[name], self.per_call[base]))

    def ratio_best(self, name: str, base: str) -> float:
        return self.best(name) / self.best(base)


def _calibrate(fn: Callable[[], object], target_s: float) -> int:
    fn()
    n, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        t = time.perf_counter() - t0
        if t >= target_s / 4 or n >= 1 << 20:
            break
        n *= 4
    return max(1, int(n * target_s / max(t, 1e-9)))


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, round_s: float,
                setup: dict[str, Callable[[], object]] | None = None) -> Timings:
    """Time every fn in each round for about `round_s` seconds (calls per round calibrated once).

    `setup[name]`, if given, runs untimed before each call of fns[name] (e.g. re-inject faults);
    then calls are timed one by one and summed, otherwise the loop is timed as a whole."""
    setup = setup or {}
    counts = {}
    for name, fn in fns.items():
        if name in setup:
            def both(fn=fn, s=setup[name]):
                s()
                fn()
            counts[name] = _calibrate(both, round_s)
        else:
            counts[name] = _calibrate(fn, round_s)
    out = Timings({name: [] for name in fns})
    names = list(fns)
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for name in order:
                fn, n = fns[name], counts[name]
                if name in setup:
                    s = setup[name]
                    total = 0.0
                    for _ in range(n):
                        s()
                        t0 = time.perf_counter()
                        fn()
                        total += time.perf_counter() - t0
                else:
                    t0 = time.perf_counter()
                    for _ in range(n):
                        fn()
                    total = time.perf_counter() - t0
                out.per_call[name].append(total / n)
    finally:
        if gc_was:
            gc.enable()
    return out


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:8.2f} us"
    if s < 1:
        return f"{s * 1e3:8.3f} ms"
    return f"{s:8.3f} s "


def target(name: str, measured: float, limit: float, higher_is_better: bool = False, unit: str = "x",
           note: str = "") -> bool:
    ok = measured >= limit if higher_is_better else measured <= limit
    op = ">=" if higher_is_better else "<="
    fmt = (lambda v: f"{v:.3f}{unit}") if unit != "x" else (lambda v: f"{v:.3f}x")
    extra = f"  ({note})" if note else ""
    print(f"TARGET {name}: measured {fmt(measured)} vs limit {op} {fmt(limit)} -> {'PASS' if ok else 'MISS'}{extra}")
    return ok


def plain_session(model_bytes: bytes, threads: int | None = None):
    """The baseline: a default-options onnxruntime session over the model with weights embedded."""
    import onnxruntime as ort

    if threads is None:
        return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def plain_runner(session, x: np.ndarray) -> Callable[[], object]:
    feed = {session.get_inputs()[0].name: x}
    return lambda: session.run(None, feed)


def plain_iobinding_runner(session, x: np.ndarray) -> Callable[[], object]:
    """The other baseline a reader would pick: the same session called through IOBinding with the
    input and every output bound once to preallocated buffers (what flight's replicas do)."""
    binding = session.io_binding()
    binding.bind_cpu_input(session.get_inputs()[0].name, x)
    for out, arr in zip(session.get_outputs(), session.run(None, {session.get_inputs()[0].name: x})):
        buf = np.empty_like(arr)
        binding.bind_output(out.name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)
    return lambda: session.run_with_iobinding(binding)


def flush() -> None:
    sys.stdout.flush()
