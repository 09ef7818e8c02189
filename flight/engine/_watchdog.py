"""The watchdog: abandon a replica run that passes its deadline, so the schedule holds.

A persistent daemon thread polls the one armed run (arming is an attribute assignment: no thread
wake-up on the hot path). When the armed run is overdue it sets that run's `RunOptions.terminate`,
which onnxruntime honours between kernels; the run then raises, and the engine counts the replica
as having produced nothing for this cycle (it is outvoted, not trusted).

Overdue means: the run's thread has spent more CPU time than the deadline since it was armed (a
replica computing too long: with one intra-op thread onnxruntime computes on the caller's thread),
or more than `wall_slack` deadlines of wall time have passed (a run blocked, not computing). A
process merely descheduled on a loaded machine burns no CPU, so it is not abandoned for it: a
wall-clock-only watchdog made the same seed give different outcomes under load.
"""

from __future__ import annotations

import threading
import time

import onnxruntime as ort


def thread_cpu_time(thread_id: int) -> float:
    """CPU seconds a thread (as `threading.get_ident()` names it) has used; Linux and most POSIX."""
    return time.clock_gettime(time.pthread_getcpuclockid(thread_id))


class Watchdog:
    def __init__(self, deadline_s: float, clock=time.perf_counter, cpu_time=thread_cpu_time, wall_slack: float = 4.0):
        if deadline_s <= 0:
            raise ValueError(f"watchdog deadline must be > 0 s, got {deadline_s}")
        self.deadline_s = deadline_s
        self._clock = clock
        self._cpu_time = cpu_time
        self._wall_limit = deadline_s * wall_slack
        # (wall at arming, thread id, its CPU time at arming, the run's options)
        self._armed: tuple[float, int, float, ort.RunOptions] | None = None
        self._lock = threading.Lock()  # so a late watchdog can never terminate the next, fresh run
        self.fired = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._thread.start()

    def arm(self, run_options: ort.RunOptions) -> None:
        """Called on the thread that is about to run the replica."""
        thread = threading.get_ident()
        cpu = self._cpu_time(thread)
        with self._lock:
            run_options.terminate = False
            self._armed = (self._clock(), thread, cpu, run_options)

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def _watch(self) -> None:
        period = max(self.deadline_s / 4, 0.0005)
        while not self._stop.wait(period):
            with self._lock:
                armed = self._armed
                if armed is None:
                    continue
                wall0, thread, cpu0, run_options = armed
                try:
                    computing = self._cpu_time(thread) - cpu0 > self.deadline_s
                except OSError:  # the thread is gone: only the wall clock is left to judge by
                    computing = False
                if computing or self._clock() - wall0 > self._wall_limit:
                    run_options.terminate = True
                    self._armed = None
                    self.fired += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
