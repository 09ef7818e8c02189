"""The TMR engine: single upsets outvoted, re-execution, scheduling, redundancy modes, input checks,
determinism."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flight
from flight import InferenceOutcome, InputRejected, Redundancy, Scheduling, TMREngine


class Recorder(flight.Instrument):
    """Keeps a copy of what each replica computed in its first run since `outputs` was cleared."""

    def __init__(self):
        self.outputs: dict[int, list[np.ndarray]] = {}
        self.runs = 0

    def after_replica(self, engine, replica, outputs):
        self.runs += 1
        self.outputs.setdefault(replica.index, [o.copy() for o in outputs])


class CorruptOutputs(flight.Instrument):
    """Changes the first output element of the given replicas, differently for each, in the first
    `attempts` attempts of every inference (an upset during computation)."""

    def __init__(self, replicas, attempts):
        self.replicas = set(replicas)
        self.attempts = attempts
        self.attempt = 1

    def after_replica(self, engine, replica, outputs):
        if replica.index in self.replicas and self.attempt <= self.attempts:
            outputs[0].reshape(-1)[0] = 1000.0 + replica.index

    def after_vote(self, engine, result):
        self.attempt += 1


def same_bits(got, expected) -> bool:
    return len(got) == len(expected) and all(g.tobytes() == e.tobytes() for g, e in zip(got, expected))


@pytest.fixture(scope="module")
def stacks(mlp_dir, cnn_dir, big_mlp_small_chunks_dir):
    booted = {
        name: flight.boot(d, scheduling="serial")
        for name, d in (("mlp", mlp_dir), ("cnn", cnn_dir), ("big", big_mlp_small_chunks_dir))
    }
    recorders = {}
    for name, stack in booted.items():
        recorders[name] = Recorder()
        stack.engine.instruments.append(recorders[name])
    yield {name: (stack, recorders[name]) for name, stack in booted.items()}
    for stack in booted.values():
        stack.close()


def clean_outputs(stack, inputs):
    return stack.replicas[0].run_copy(inputs)


# --- single event upsets in the weights ----------------------------------------------------------


@settings(deadline=None, max_examples=300)
@given(data=st.data())
def test_any_weight_bit_flip_in_one_replica_is_outvoted(stacks, data):
    name = data.draw(st.sampled_from(sorted(stacks)), label="model")
    stack, recorder = stacks[name]
    slots = stack.replicas[0].image.layout.tensors
    slot = data.draw(st.sampled_from(slots), label="tensor")
    element = data.draw(st.integers(0, slot.nbytes // slot.dtype.itemsize - 1), label="element")
    bit = data.draw(st.integers(0, 31), label="bit")
    victim = data.draw(st.integers(0, 2), label="replica")
    vector = data.draw(st.integers(0, len(stack.model.golden_inputs) - 1), label="golden vector")
    inputs = stack.model.golden_inputs[vector]
    expected = stack.model.golden_outputs[vector]
    image = stack.replicas[victim].image
    image.flip_bit(slot.name, element, bit)
    recorder.outputs.clear()
    try:
        result = stack.engine.infer(inputs)
        hit_output = recorder.outputs[victim]
        repaired = image.bad_chunks() == []
    finally:
        if image.bad_chunks():  # the flip did not reach the output: nobody disagreed, nothing repaired
            image.flip_bit(slot.name, element, bit)
    assert result.outcome is not InferenceOutcome.DETECTED_UNRECOVERABLE
    assert same_bits(result.outputs, expected)
    if same_bits(hit_output, expected):
        assert result.outcome is InferenceOutcome.UNANIMOUS
        assert result.suspects == frozenset()
        assert not repaired  # the unanimous fast path never verifies
    else:
        assert result.outcome is InferenceOutcome.CORRECTED
        assert result.suspects == frozenset({victim})
        assert repaired  # the disagreement was verified and the image repaired at once
    assert image.bad_chunks() == []


def test_exponent_high_bit_flips_reach_the_replica_for_most_elements(stacks):
    """Bit 30 of a float32 is the exponent's high bit: the property above is not vacuous."""
    for name in ("mlp", "cnn"):
        stack, recorder = stacks[name]
        inputs = stack.model.golden_inputs[0]
        expected = stack.model.golden_outputs[0]
        replica = stack.replicas[1]
        reached = total = 0
        for slot in replica.image.layout.tensors:
            for element in range(slot.nbytes // 4):
                replica.image.flip_bit(slot.name, element, 30)
                try:
                    moved = not same_bits(replica.run_copy(inputs), expected)
                finally:
                    replica.image.flip_bit(slot.name, element, 30)
                reached += moved
                total += 1
        assert total > 200
        assert reached / total >= 0.5, f"{name}: only {reached} of {total} bit-30 flips reached the output"
        assert same_bits(replica.run_copy(inputs), expected)


def test_flipping_the_same_bit_back_restores_bit_exact_outputs(stacks):
    stack, recorder = stacks["cnn"]
    inputs, expected = stack.model.golden_inputs[1], stack.model.golden_outputs[1]
    replica = stack.replicas[2]
    tensor = replica.image.layout.tensors[0].name
    replica.image.flip_bit(tensor, 5, 30)
    try:
        assert not same_bits(replica.run_copy(inputs), expected)
    finally:
        replica.image.flip_bit(tensor, 5, 30)
    assert same_bits(replica.run_copy(inputs), expected)
    result = stack.engine.infer(inputs)
    assert result.outcome is InferenceOutcome.UNANIMOUS
    assert same_bits(result.outputs, expected)


# --- re-execution ---------------------------------------------------------------------------------


def test_no_majority_on_the_first_attempt_is_cleared_by_reexecution(stacks):
    stack, _ = stacks["mlp"]
    inputs, expected = stack.model.golden_inputs[0], stack.model.golden_outputs[0]
    with TMREngine(stack.replicas, scheduling="serial", instruments=[CorruptOutputs({0, 1}, attempts=1)]) as engine:
        result = engine.infer(inputs)
        stats = engine.statistics()
    assert result.outcome is InferenceOutcome.CORRECTED
    assert result.attempts == 2
    assert same_bits(result.outputs, expected)
    assert stats.inferences == 1
    assert stats.votes_failed == 1
    assert stats.reexecutions == 1
    assert stats.unrecoverable == 0


def test_no_majority_on_every_attempt_is_detected_unrecoverable(stacks):
    stack, _ = stacks["mlp"]
    inputs = stack.model.golden_inputs[0]
    corrupt = CorruptOutputs({0, 1}, attempts=10**9)
    with TMREngine(stack.replicas, scheduling="serial", max_reexecutions=3, instruments=[corrupt]) as engine:
        result = engine.infer(inputs)
        stats = engine.statistics()
    assert result.outcome is InferenceOutcome.DETECTED_UNRECOVERABLE
    assert result.outputs is None
    assert result.attempts == 4
    assert result.reason == "logits element 0: no two replicas agree"
    assert stats.unrecoverable == 1
    assert stats.reexecutions == 3
    assert stats.votes_failed == 4
    assert stats.votes_unanimous == stats.votes_corrected == 0


def test_one_corrupted_replica_output_is_corrected_without_reexecution(stacks):
    stack, _ = stacks["mlp"]
    inputs, expected = stack.model.golden_inputs[0], stack.model.golden_outputs[0]
    with TMREngine(stack.replicas, scheduling="serial", instruments=[CorruptOutputs({2}, attempts=10**9)]) as engine:
        result = engine.infer(inputs)
        stats = engine.statistics()
    assert result.outcome is InferenceOutcome.CORRECTED
    assert result.attempts == 1
    assert result.suspects == frozenset({2})
    assert same_bits(result.outputs, expected)
    assert stats.suspects == {0: 0, 1: 0, 2: 1}
    assert stats.votes_corrected == 1


def test_crashing_replica_is_outvoted_and_counted(stacks):
    def boom():
        raise RuntimeError("onnxruntime failed")

    class Crash(flight.Instrument):
        def before_replica(self, engine, replica, inputs):
            if replica.index == 0:
                replica.compute = boom  # this replica's run now raises

    stack, _ = stacks["mlp"]
    inputs, expected = stack.model.golden_inputs[0], stack.model.golden_outputs[0]
    try:
        with TMREngine(stack.replicas, scheduling="serial", instruments=[Crash()]) as engine:
            result = engine.infer(inputs)
            stats = engine.statistics()
    finally:
        del stack.replicas[0].compute
    assert result.outcome is InferenceOutcome.CORRECTED
    assert result.suspects == frozenset({0})
    assert same_bits(result.outputs, expected)
    assert stats.replica_errors == 1


def test_max_reexecutions_must_not_be_negative(stacks):
    stack, _ = stacks["mlp"]
    with pytest.raises(ValueError, match=r"^max_reexecutions must be >= 0$"):
        TMREngine(stack.replicas, scheduling="serial", max_reexecutions=-1)


def test_redundancy_needs_its_number_of_replicas(stacks):
    stack, _ = stacks["mlp"]
    with pytest.raises(ValueError, match=r"^tmr needs 3 replicas, got 2$"):
        TMREngine(stack.replicas[:2], scheduling="serial")


# --- scheduling and redundancy modes ---------------------------------------------------------------


def test_serial_and_pooled_scheduling_give_identical_outputs(stacks):
    rng = np.random.default_rng(5)
    for name in ("mlp", "cnn"):
        stack, _ = stacks[name]
        spec = stack.model.manifest.inputs[0]
        with TMREngine(stack.replicas, scheduling=Scheduling.SERIAL) as serial, TMREngine(
            stack.replicas, scheduling=Scheduling.POOLED
        ) as pooled:
            assert pooled.scheduling is Scheduling.POOLED
            for _ in range(20):
                x = rng.standard_normal(spec.shape).astype(np.float32)
                a, b = serial.infer([x]), pooled.infer([x])
                assert a.outcome is b.outcome is InferenceOutcome.UNANIMOUS
                assert same_bits(a.outputs, b.outputs)


def test_pooled_scheduling_outvotes_the_replica_run_on_the_worker_thread(stacks):
    stack, _ = stacks["mlp"]
    inputs, expected = stack.model.golden_inputs[0], stack.model.golden_outputs[0]
    with TMREngine(stack.replicas, scheduling="pooled", instruments=[CorruptOutputs({1}, attempts=10**9)]) as engine:
        result = engine.infer(inputs)
    assert result.outcome is InferenceOutcome.CORRECTED
    assert result.suspects == frozenset({1})
    assert same_bits(result.outputs, expected)


@pytest.mark.parametrize("scheduling", ["serial", "pooled", "auto"])
@pytest.mark.parametrize("redundancy", ["simplex", "duplex"])
def test_simplex_and_duplex_emit_the_tmr_output(stacks, redundancy, scheduling):
    stack, _ = stacks["mlp"]
    n = Redundancy(redundancy).replicas
    with TMREngine(stack.replicas[:n], redundancy=redundancy, scheduling=scheduling) as engine:
        for inputs, expected in zip(stack.model.golden_inputs, stack.model.golden_outputs):
            result = engine.infer(inputs)
            assert result.outcome is InferenceOutcome.UNANIMOUS
            assert same_bits(result.outputs, expected)


def test_duplex_disagreement_is_detected_never_emitted(stacks):
    stack, _ = stacks["mlp"]
    inputs = stack.model.golden_inputs[0]
    corrupt = CorruptOutputs({1}, attempts=10**9)
    with TMREngine(stack.replicas[:2], redundancy="duplex", scheduling="serial", instruments=[corrupt]) as engine:
        result = engine.infer(inputs)
    assert result.outcome is InferenceOutcome.DETECTED_UNRECOVERABLE
    assert result.outputs is None


def test_duplex_disagreement_cleared_by_reexecution_is_corrected(stacks):
    stack, _ = stacks["mlp"]
    inputs, expected = stack.model.golden_inputs[0], stack.model.golden_outputs[0]
    corrupt = CorruptOutputs({1}, attempts=1)
    with TMREngine(stack.replicas[:2], redundancy="duplex", scheduling="serial", instruments=[corrupt]) as engine:
        result = engine.infer(inputs)
    assert result.outcome is InferenceOutcome.CORRECTED
    assert result.attempts == 2
    assert same_bits(result.outputs, expected)


def test_simplex_never_emits_nan(stacks):
    class NaNs(flight.Instrument):
        def after_replica(self, engine, replica, outputs):
            outputs[0].reshape(-1)[1] = np.nan

    stack, _ = stacks["mlp"]
    with TMREngine(stack.replicas[:1], redundancy="simplex", scheduling="serial", instruments=[NaNs()]) as engine:
        result = engine.infer(stack.model.golden_inputs[0])
    assert result.outcome is InferenceOutcome.DETECTED_UNRECOVERABLE
    assert result.outputs is None
    assert result.reason == "logits is not finite"


def test_boot_in_simplex_and_duplex_modes(mlp_dir):
    for redundancy in ("simplex", "duplex"):
        stack = flight.boot(mlp_dir, redundancy=redundancy, scheduling="serial")
        try:
            assert len(stack.replicas) == Redundancy(redundancy).replicas
            assert len(stack.scrubber.images) == len(stack.replicas)
            result = stack.engine.infer(stack.model.golden_inputs[0])
            assert result.outcome is InferenceOutcome.UNANIMOUS
            assert same_bits(result.outputs, stack.model.golden_outputs[0])
        finally:
            stack.close()


# --- input validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: [np.zeros((1, 9), np.float32)], "input obs: shape [1, 9] != [1, 8]"),
        (lambda: [np.zeros((8,), np.float32)], "input obs: shape [8] != [1, 8]"),
        (lambda: [np.zeros((1, 8), np.float64)], "input obs: dtype float64 != float32"),
        (lambda: [np.array([[0, 1, 2, np.nan, 4, 5, 6, 7]], np.float32)], "input obs: contains NaN or infinity"),
        (lambda: [np.full((1, 8), np.inf, np.float32)], "input obs: contains NaN or infinity"),
        (lambda: [[0.0] * 8], "input obs: not an array"),
        (lambda: [np.zeros((1, 8), np.float32)] * 2, "expected 1 inputs, got 2"),
        (lambda: [], "expected 1 inputs, got 0"),
    ],
)
def test_bad_input_frame_is_rejected_before_any_replica_runs(stacks, make, message):
    stack, recorder = stacks["mlp"]
    before_stats, before_runs = stack.engine.statistics(), recorder.runs
    with pytest.raises(InputRejected) as info:
        stack.engine.infer(make())
    assert str(info.value) == message
    assert recorder.runs == before_runs
    assert stack.engine.statistics() == before_stats


def test_input_outside_its_declared_range_is_rejected():
    spec = flight.IOSpec("obs", "float32", (1, 2), (-1.0, 1.0))
    with pytest.raises(InputRejected) as info:
        flight.validate_inputs([np.array([[0.5, 1.5]], np.float32)], [spec])
    assert str(info.value) == "input obs: outside [-1, 1]"
    frame = flight.validate_inputs([np.array([[-1.0, 1.0]], np.float32)], [spec])
    assert len(frame) == 1


# --- determinism --------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_two_separately_booted_stacks_give_bit_identical_outputs(request, model):
    directory = request.getfixturevalue(f"{model}_dir")
    a = flight.boot(directory, scheduling="serial")
    b = flight.boot(directory, scheduling="pooled")
    try:
        spec = a.model.manifest.inputs[0]
        rng = np.random.default_rng(2024)
        frames = [rng.standard_normal(spec.shape).astype(np.float32) for _ in range(10)]
        first = [a.engine.infer([x]).outputs for x in frames]
        for run in range(100):
            x = frames[run % len(frames)]
            ra, rb = a.engine.infer([x]), b.engine.infer([x])
            assert ra.outcome is rb.outcome is InferenceOutcome.UNANIMOUS
            assert same_bits(ra.outputs, rb.outputs)
            assert same_bits(ra.outputs, first[run % len(frames)])
    finally:
        a.close()
        b.close()
