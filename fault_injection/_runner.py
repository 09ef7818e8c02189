"""Run a campaign: shards over a `concurrent.futures.Executor`, merged in shard order.

One code path for every scale: in-process for one worker, a `ProcessPoolExecutor` (spawned, so no
worker inherits the parent's threads or sessions) for local cores, `distributed.Client(address)
.get_executor()` for a Dask cluster. Each shard is seeded from the campaign seed and its index and
has a fixed size, so counts do not depend on how many workers ran it. Stacks are booted inside
each worker process on its first shard and reused for the rest (serial scheduling is pinned).
"""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Callable

from ._campaign import Campaign, Experiment
from ._errors import CampaignError
from ._missions import MissionTrials
from ._tally import ModeTally
from ._trials import InferenceTrials

_WORKERS: dict[str, Any] = {}  # per process: experiment -> its booted trial runner


def _worker_for(exp_dict: dict) -> Any:
    key = json.dumps(exp_dict, sort_keys=True, default=str)
    worker = _WORKERS.get(key)
    if worker is None:
        exp = Experiment.from_dict(exp_dict)
        worker = InferenceTrials(exp) if exp.kind == "inference" else MissionTrials(exp)
        _WORKERS[key] = worker
    return worker


def run_shard(exp_dict: dict, shard: int, count: int, modes: tuple[str, ...] | None = None) -> dict:
    """One shard in whatever process runs it; returns plain data (it crosses process boundaries)."""
    worker = _worker_for(exp_dict)
    t0 = time.perf_counter()
    if modes is None:
        tallies = worker.run_shard(shard, count)
    else:
        tallies = worker.run_shard(shard, count, modes)
    return {"shard": shard, "modes": list(tallies), "seconds": time.perf_counter() - t0,
            "tallies": {m: t.to_dict() for m, t in tallies.items()}}


@dataclass(frozen=True)
class Task:
    experiment: int
    shard: int
    count: int
    modes: tuple[str, ...] | None  # mission shards run one mode each (they are long)


def plan(campaign: Campaign) -> list[Task]:
    tasks = []
    for i, exp in enumerate(campaign.experiments):
        shards = math.ceil(exp.trials / exp.shard_size)
        for s in range(shards):
            count = min(exp.shard_size, exp.trials - s * exp.shard_size)
            if exp.kind == "inference":
                tasks.append(Task(i, s, count, None))
            else:
                for mode in ("fault-free",) + exp.modes:
                    tasks.append(Task(i, s, count, (mode,)))
    return tasks


class _Inline(Executor):
    """The executor for one worker: runs each task in this process when submitted."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            f.set_exception(exc)
        return f


def make_executor(workers: int | None, scheduler: str | None) -> tuple[Executor, Callable[[], None], str]:
    """(executor, close, description)."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise CampaignError("--scheduler needs dask[distributed] (pip install 'seuguard[campaign]')") from None
        try:
            client = Client(scheduler, timeout=10)
        except Exception as exc:  # noqa: BLE001 - any failure to reach the cluster is one message
            raise CampaignError(f"--scheduler {scheduler}: cannot connect ({exc.__class__.__name__})") from None
        return client.get_executor(), client.close, f"dask {scheduler}"
    n = workers or os.cpu_count() or 1
    if n == 1:
        return _Inline(), lambda: None, "1 worker (in process)"
    pool = ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn"))
    return pool, lambda: pool.shutdown(wait=True, cancel_futures=True), f"{n} local workers"


@dataclass
class CampaignResult:
    campaign: Campaign
    tallies: list[dict[str, ModeTally]]  # per experiment, per mode
    seconds: float
    trials: int  # trial decisions or episodes run, over all modes
    executor: str
    shard_seconds: float


def run_campaign(campaign: Campaign, workers: int | None = None, scheduler: str | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> CampaignResult:
    tasks = plan(campaign)
    executor, close, description = make_executor(workers, scheduler)
    exp_dicts = [e.to_dict() for e in campaign.experiments]
    results: dict[tuple[int, int, tuple | None], dict] = {}
    t0 = time.perf_counter()
    try:
        futures = {executor.submit(run_shard, exp_dicts[t.experiment], t.shard, t.count, t.modes): t for t in tasks}
        done = 0
        for fut in as_completed(futures):
            t = futures[fut]
            results[(t.experiment, t.shard, t.modes)] = fut.result()
            done += 1
            if on_progress is not None:
                on_progress(done, len(tasks))
    finally:
        close()
    seconds = time.perf_counter() - t0
    merged: list[dict[str, ModeTally]] = []
    for i, exp in enumerate(campaign.experiments):
        modes = exp.modes if exp.kind == "inference" else ("fault-free",) + exp.modes
        per_mode = {m: ModeTally() for m in modes}
        for t in tasks:  # shard order, whatever order they finished in
            if t.experiment != i:
                continue
            r = results[(t.experiment, t.shard, t.modes)]
            for m, d in r["tallies"].items():
                per_mode[m].merge(ModeTally.from_dict(d))
        merged.append(per_mode)
    trials = sum(t.counts["trials"] for per in merged for t in per.values())
    shard_seconds = sum(r["seconds"] for r in results.values())
    return CampaignResult(campaign, merged, seconds, trials, description, shard_seconds)
