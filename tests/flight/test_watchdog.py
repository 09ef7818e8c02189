"""The watchdog: an overdue replica run is abandoned, counted, and outvoted; the engine goes on.

The tests assert outcomes (runs abandoned, counters, the vote), never a wall-clock bound: a loaded
machine slows everything, and these must hold there too."""

from __future__ import annotations

import threading
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import ground
from flight import InferenceOutcome, Redundancy, Replica, Scheduling, TMREngine, open_model
from flight.engine._watchdog import Watchdog

N = 1200
LAYERS = 12


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory):
    """A chain of N x N matrix products: long enough (hundreds of ms) to overrun any deadline."""
    d = tmp_path_factory.mktemp("slow")
    w = (np.eye(N) * 0.5).astype(np.float32)
    nodes, prev = [], "x"
    for i in range(LAYERS):
        nodes.append(helper.make_node("MatMul", [prev, "w"], [f"y{i}"]))
        prev = f"y{i}"
    graph = helper.make_graph(
        nodes, "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, N])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [N, N])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, d / "slow.onnx")
    ground.package_model(d / "slow.onnx", d / "pkg", golden_count=1)
    return open_model(d / "pkg")


def test_overdue_replica_runs_are_abandoned_and_counted(slow_model):
    replicas = [Replica(i, slow_model) for i in range(3)]
    x = slow_model.golden_inputs[0]
    t0 = time.perf_counter()
    replicas[0].run(x)
    full_run = time.perf_counter() - t0
    assert full_run > 0.2, f"the slow model ran in {full_run:.3f} s; the test needs a slower one"

    engine = TMREngine(replicas, Redundancy.TMR, Scheduling.SERIAL, max_reexecutions=0, watchdog_s=0.02)
    try:
        result = engine.infer(x)
        stats = engine.statistics()
    finally:
        engine.close()
    assert result.outcome is InferenceOutcome.DETECTED_UNRECOVERABLE and result.outputs is None
    # Abandoned, not finished late: a run that completed would not count as a timeout.
    assert stats.watchdog_timeouts == 3 and stats.replica_errors == 0
    assert all(r.run_options.terminate for r in replicas)


def test_a_replica_within_its_deadline_is_unaffected(slow_model):
    replicas = [Replica(i, slow_model) for i in range(3)]
    engine = TMREngine(replicas, Redundancy.TMR, Scheduling.SERIAL, max_reexecutions=0, watchdog_s=30.0)
    try:
        result = engine.infer(slow_model.golden_inputs[0])
        stats = engine.statistics()
    finally:
        engine.close()
    assert result.outcome is InferenceOutcome.UNANIMOUS
    assert stats.watchdog_timeouts == 0
    assert result.outputs[0].tobytes() == slow_model.golden_outputs[0][0].tobytes()


def test_the_executive_reports_abandoned_runs_and_keeps_flying_its_fallback(slow_model):
    import yaml

    from flight import EventId, Executive, SlotStore, config_from_dict
    from flight.executive._config import read_config_text

    d = yaml.safe_load(read_config_text()[0])
    d["engine"]["watchdog_ms"] = 20.0
    d["engine"]["max_reexecutions"] = 0
    d["engine"]["scheduling"] = "serial"
    config = config_from_dict(d, "test")
    executive = Executive(SlotStore.single(slow_model.directory), config,
                          actuate=lambda outputs: "model", fallback=lambda inputs: "fallback")
    try:
        frame = slow_model.golden_inputs[0]
        results = [executive.step(frame) for _ in range(2)]
    finally:
        executive.close()
    assert [r.action for r in results] == ["fallback", "fallback"]  # every cycle still got a command
    assert [r.cycle for r in results] == [1, 2]
    deadline_events = [e.text for e in executive.events if e.id is EventId.REPLICA_DEADLINE_ERR]
    assert deadline_events == ["3 replica run(s) abandoned at the 20 ms deadline"] * 2
    assert executive.housekeeping().watchdog_timeouts == 6


def hang_until_terminated(bound, run_options):
    """Stands in for a replica run that never finishes: it ends only when the watchdog sets the
    terminate flag, and then fails the way onnxruntime does."""
    terminated = threading.Event()
    deadline = time.monotonic() + 60
    while not run_options.terminate:
        assert time.monotonic() < deadline, "the watchdog never terminated the hung run"
        terminated.wait(0.001)
    raise RuntimeError("Exiting due to terminate flag being set to true.")


@pytest.mark.parametrize("scheduling", [Scheduling.SERIAL, Scheduling.POOLED])
def test_a_hung_replica_is_abandoned_and_outvoted_by_the_other_two(mlp_dir, scheduling):
    model = open_model(mlp_dir)
    replicas = [Replica(i, model) for i in range(3)]
    replicas[1]._run_bound = hang_until_terminated
    engine = TMREngine(replicas, Redundancy.TMR, scheduling, max_reexecutions=0, watchdog_s=0.05)
    try:
        result = engine.infer(model.golden_inputs[0])
        stats = engine.statistics()
    finally:
        engine.close()
    assert result.outcome is not InferenceOutcome.DETECTED_UNRECOVERABLE
    assert result.outputs[0].tobytes() == model.golden_outputs[0][0].tobytes()
    assert stats.watchdog_timeouts == 1 and stats.replica_errors == 0
    assert 1 in result.suspects and stats.suspects[1] == 1


def test_the_watchdog_fires_on_cpu_spent_past_the_deadline_or_a_run_blocked_far_past_it():
    """Clocks advanced by hand: armed and young, nothing; descheduled (wall time passes, no CPU),
    nothing; computing past the deadline, terminate set once; blocked for `wall_slack` deadlines,
    terminate set; disarmed before the deadline, never."""
    now, cpu = [0.0], [0.0]
    dog = Watchdog(0.01, clock=lambda: now[0], cpu_time=lambda thread: cpu[0], wall_slack=4.0)

    def fired(n: int) -> None:
        deadline = time.monotonic() + 30
        while dog.fired < n:
            assert time.monotonic() < deadline, "the watchdog did not fire"
            threading.Event().wait(0.001)

    def stays_quiet() -> None:  # give the polling thread many periods to misbehave
        for _ in range(20):
            threading.Event().wait(0.003)

    try:
        young, slow, blocked = ort.RunOptions(), ort.RunOptions(), ort.RunOptions()
        dog.arm(young)
        now[0], cpu[0] = 0.005, 0.005
        dog.disarm()
        now[0] = 1.0  # long after: a disarmed run is never terminated
        dog.arm(slow)
        now[0] = 1.03  # three deadlines of wall time, but no CPU: descheduled, not overdue
        stays_quiet()
        assert not slow.terminate and dog.fired == 0
        cpu[0] = 0.005 + 0.011  # now it has computed past its deadline
        fired(1)
        assert slow.terminate and not young.terminate
        dog.arm(blocked)
        now[0] = 1.03 + 0.041  # blocked, burning no CPU, for more than four deadlines
        fired(2)
        assert blocked.terminate
    finally:
        dog.close()
