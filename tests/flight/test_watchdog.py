"""The watchdog: an overdue replica run is abandoned and counted; the engine returns on time."""

from __future__ import annotations

import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ground
from flight import InferenceOutcome, Redundancy, Replica, Scheduling, TMREngine, open_model

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
        t0 = time.perf_counter()
        result = engine.infer(x)
        elapsed = time.perf_counter() - t0
        stats = engine.statistics()
    finally:
        engine.close()
    assert result.outcome is InferenceOutcome.DETECTED_UNRECOVERABLE and result.outputs is None
    assert stats.watchdog_timeouts == 3 and stats.replica_errors == 0
    assert elapsed < 1.5 * full_run  # three runs abandoned early, not three full runs


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
        t0 = time.perf_counter()
        results = [executive.step(frame) for _ in range(2)]
        elapsed = time.perf_counter() - t0
    finally:
        executive.close()
    assert [r.action for r in results] == ["fallback", "fallback"]  # every cycle still got a command
    assert [r.cycle for r in results] == [1, 2]
    deadline_events = [e.text for e in executive.events if e.id is EventId.REPLICA_DEADLINE_ERR]
    assert deadline_events == ["3 replica run(s) abandoned at the 20 ms deadline"] * 2
    assert executive.housekeeping().watchdog_timeouts == 6
    assert elapsed < 2.0  # six full runs would take several seconds
