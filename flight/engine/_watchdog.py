"""The watchdog: abandon a replica run that passes its deadline, so the schedule holds.

A persistent daemon thread polls the one armed run (arming is an attribute assignment: no thread
wake-up on the hot path). When the armed run is older than the deadline it sets that run's
`RunOptions.terminate`, which onnxruntime honours between kernels; the run then raises, and the
engine counts the replica as having produced nothing for this cycle (it is outvoted, not trusted).
"""

from __future__ import annotations

import threading
import time

import onnxruntime as ort


class Watchdog:
    def __init__(self, deadline_s: float, clock=time.perf_counter):
        if deadline_s <= 0:
            raise ValueError(f"watchdog deadline must be > 0 s, got {deadline_s}")
        self.deadline_s = deadline_s
        self._clock = clock
        self._armed: tuple[float, ort.RunOptions] | None = None
        self._lock = threading.Lock()  # so a late watchdog can never terminate the next, fresh run
        self.fired = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        self._thread.start()

    def arm(self, run_options: ort.RunOptions) -> None:
        with self._lock:
            run_options.terminate = False
            self._armed = (self._clock(), run_options)

    def disarm(self) -> None:
        with self._lock:
            self._armed = None

    def _watch(self) -> None:
        period = max(self.deadline_s / 4, 0.0005)
        while not self._stop.wait(period):
            with self._lock:
                armed = self._armed
                if armed is not None and self._clock() - armed[0] > self.deadline_s:
                    armed[1].terminate = True
                    self._armed = None
                    self.fired += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
