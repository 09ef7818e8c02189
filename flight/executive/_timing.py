"""Timing: wall-clock cost of every task and lateness of every frame start, for the timing report.

Responsibility: keep the last `RING` samples per task in one preallocated array and turn them into
p50/p99/max with a single `np.partition`, so the report costs the same every time (no allocation,
no sort of a deque). Wall-clock facts only: they leave in the timing report, outside the digest.

Counters: overruns (a task past its budget), skipped slots (frames the paced driver lost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..comms._packets import TimingReport

RING = 1000  # samples kept per task


@dataclass(frozen=True)
class TimingStatistics:
    overruns: int
    skipped_slots: int


class Timing:
    def __init__(self, tasks: tuple[str, ...], budgets_ms: dict[str, float]):
        self.tasks = tasks
        # Plain Python lists, preallocated: this runs six times a frame, where a numpy scalar
        # store costs several times a list store.
        self._row = {t: i for i, t in enumerate(tasks)}
        self._budget_s = {t: budgets_ms[t] / 1000.0 for t in tasks}
        self._lateness_row = len(tasks)
        self._samples = [[0.0] * RING for _ in range(len(tasks) + 1)]  # tasks, then frame-start lateness
        self._count = [0] * (len(tasks) + 1)
        self._report_us: tuple[tuple[int, int, int], ...] | None = None
        self.reset_statistics()

    def reset_statistics(self) -> None:
        self.overruns = 0
        self.skipped_slots = 0

    def statistics(self) -> TimingStatistics:
        return TimingStatistics(self.overruns, self.skipped_slots)

    def task(self, name: str, seconds: float) -> None:
        row = self._row[name]
        n = self._count[row]
        self._samples[row][n % RING] = seconds
        self._count[row] = n + 1
        if seconds > self._budget_s[name]:
            self.overruns += 1

    def lateness(self, seconds: float, skipped: int = 0) -> None:
        row = self._lateness_row
        n = self._count[row]
        self._samples[row][n % RING] = seconds
        self._count[row] = n + 1
        self.skipped_slots += skipped

    def report(self, refresh: bool = True) -> TimingReport:
        """Overruns, skipped slots, and p50/p99/max per task and of lateness in microseconds (as of
        the last refresh)."""
        if refresh or self._report_us is None:
            self._report_us = tuple(self._percentiles(row) for row in range(len(self._count)))
        return TimingReport(self.overruns, self.skipped_slots, self._report_us)

    def _percentiles(self, row: int) -> tuple[int, int, int]:
        n = int(min(self._count[row], RING))
        if n == 0:
            return (0, 0, 0)
        ranks = sorted({(n - 1) // 2, min(n - 1, int(np.ceil(0.99 * n)) - 1), n - 1})
        part = np.partition(np.array(self._samples[row][:n]), ranks)
        p50, p99, top = part[(n - 1) // 2], part[min(n - 1, int(np.ceil(0.99 * n)) - 1)], part[n - 1]
        return (int(p50 * 1e6), int(p99 * 1e6), int(top * 1e6))
