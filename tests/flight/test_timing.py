"""Timing: a preallocated ring per task, percentiles from one partition, overruns counted."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from flight.executive._timing import RING, Timing

TASKS = ("sense", "infer")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 0.01, allow_nan=False), min_size=1, max_size=2 * RING + 5))
def test_percentiles_are_the_nearest_ranks_of_the_last_ring_of_samples(samples):
    timing = Timing(TASKS, {"sense": 1.0, "infer": 1.0})
    for s in samples:
        timing.task("infer", s)
    kept = np.sort(np.array(samples[-RING:]))
    n = len(kept)
    p50, p99, top = timing.report().task_us[1]
    assert p50 == int(kept[(n - 1) // 2] * 1e6)
    assert p99 == int(kept[max(0, int(np.ceil(0.99 * n)) - 1)] * 1e6)
    assert top == int(kept[-1] * 1e6)


def test_a_task_past_its_budget_is_an_overrun_and_lateness_counts_skipped_frames():
    timing = Timing(TASKS, {"sense": 0.5, "infer": 5.0})
    timing.task("sense", 0.0004)
    timing.task("sense", 0.0006)
    timing.task("infer", 0.004)
    timing.lateness(0.001, skipped=2)
    report = timing.report()
    assert report.overruns == 1 and report.skipped_slots == 2
    assert report.task_us[2] == (1000, 1000, 1000)  # lateness row


def test_percentiles_stay_as_of_the_last_refresh_until_refreshed():
    timing = Timing(TASKS, {"sense": 1.0, "infer": 1.0})
    timing.task("sense", 0.001)
    first = timing.report(refresh=False).task_us
    timing.task("sense", 0.009)
    assert timing.report(refresh=False).task_us == first
    assert timing.report(refresh=True).task_us[0][2] == 9000
