"""A majority is not proof: disagreements are verified against the CRCs before release (issue 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import flight
from flight import InferenceOutcome, VoteOutcome, vote

LANDER = Path(__file__).resolve().parents[2] / "models" / "lander-discrete"


def same_bits(got, expected) -> bool:
    return got is not None and len(got) == len(expected) and all(g.tobytes() == e.tobytes() for g, e in zip(got, expected))


@pytest.fixture(scope="module")
def stacks(mlp_dir, cnn_dir):
    booted = {name: flight.boot(d, scheduling="serial") for name, d in
              (("lander", LANDER), ("mlp", mlp_dir), ("cnn", cnn_dir))}
    yield booted
    for s in booted.values():
        s.close()


def healthy(stack) -> bool:
    return all(r.image.bad_chunks() == [] for r in stack.replicas)


def fault(draw, stack, label):
    slots = stack.replicas[0].image.layout.tensors
    slot = draw(st.sampled_from(slots), label=f"{label} tensor")
    element = draw(st.integers(0, slot.nbytes // slot.dtype.itemsize - 1), label=f"{label} element")
    bits = draw(st.lists(st.integers(0, 31), min_size=1, max_size=3, unique=True), label=f"{label} bits")
    return slot.name, element, bits


@settings(deadline=None, max_examples=300)
@given(data=st.data())
def test_two_replicas_hit_never_release_a_wrong_output_nor_blame_the_healthy_one(stacks, data):
    stack = stacks[data.draw(st.sampled_from(sorted(stacks)), label="model")]
    first, second = data.draw(st.permutations([0, 1, 2]), label="replicas")[:2]
    healthy_id = ({0, 1, 2} - {first, second}).pop()
    fault_a = fault(data.draw, stack, "first")
    fault_b = fault_a if data.draw(st.booleans(), label="identical faults") else fault(data.draw, stack, "second")
    vector = data.draw(st.integers(0, len(stack.model.golden_inputs) - 1), label="vector")
    for rid, (tensor, element, bits) in ((first, fault_a), (second, fault_b)):
        for bit in bits:
            stack.replicas[rid].image.flip_bit(tensor, element, bit)
    try:
        result = stack.engine.infer(stack.model.golden_inputs[vector])
    finally:
        stack.scrubber.scrub_all()  # storage is good: whatever the engine left, this puts back
    assert healthy(stack)
    # Storage is good, so verification can always repair: the decision is the golden one.
    assert result.outcome is not InferenceOutcome.DETECTED_UNRECOVERABLE, result.reason
    assert same_bits(result.outputs, stack.model.golden_outputs[vector])
    assert healthy_id not in result.suspects
    assert result.suspects <= {first, second}


def test_two_replicas_hit_alike_outvote_the_healthy_one_in_a_plain_vote(stacks):
    """The property above is not vacuous: bits 29 and 28 of one lander bias element, in two replicas,
    give bit-identical wrong logits that a plain 2-of-3 vote releases, blaming the healthy replica."""
    stack = stacks["lander"]
    inputs, expected = stack.model.golden_inputs[0], stack.model.golden_outputs[0]
    bias = next(s for s in stack.replicas[0].image.layout.tensors if s.name.endswith("bias") and s.shape == (4,))
    found = None
    for element in range(4):
        stack.replicas[0].image.flip_bit(bias.name, element, 29)
        stack.replicas[1].image.flip_bit(bias.name, element, 28)
        try:
            outs = [r.run_copy(inputs) for r in stack.replicas]
        finally:
            stack.replicas[0].image.flip_bit(bias.name, element, 29)
            stack.replicas[1].image.flip_bit(bias.name, element, 28)
        if same_bits(outs[0], outs[1]) and not same_bits(outs[0], expected):
            found = element, outs
            break
    assert found is not None, "no element where two different upsets agree"
    element, outs = found
    plain = vote(outs, stack.model.manifest.outputs)
    assert plain.outcome is VoteOutcome.CORRECTED and plain.suspects == frozenset({2})
    assert not same_bits(plain.outputs, expected)  # what a vote without verification releases
    stack.replicas[0].image.flip_bit(bias.name, element, 29)
    stack.replicas[1].image.flip_bit(bias.name, element, 28)
    try:
        result = stack.engine.infer(inputs)
    finally:
        stack.scrubber.scrub_all()
    assert same_bits(result.outputs, expected) and result.suspects == frozenset({0, 1})


def test_an_image_that_cannot_be_repaired_leaves_the_vote(stacks, monkeypatch):
    stack = stacks["mlp"]
    inputs, expected = stack.model.golden_inputs[0], stack.model.golden_outputs[0]
    tensor = stack.replicas[0].image.layout.tensors[0].name
    monkeypatch.setattr(stack.engine, "repair", None)  # nothing to repair with: it must be left out
    stack.replicas[2].image.flip_bit(tensor, 0, 30)
    try:
        result = stack.engine.infer(inputs)
    finally:
        stack.scrubber.scrub_all()
    assert result.outcome is InferenceOutcome.CORRECTED and result.suspects == frozenset({2})
    assert same_bits(result.outputs, expected)
    assert healthy(stack)


def test_a_single_weight_upset_is_one_corrected_decision_and_no_failed_vote(stacks):
    """Operators read votes_failed as 'no majority': a majority that verification replaced with a
    repaired, unanimous one is a correction, not a failure."""
    stack = stacks["lander"]
    inputs, expected = stack.model.golden_inputs[0], stack.model.golden_outputs[0]
    before = stack.engine.statistics()
    bias = next(s for s in stack.replicas[0].image.layout.tensors if s.name.endswith("bias") and s.shape == (4,))
    stack.replicas[1].image.flip_bit(bias.name, 0, 30)
    try:
        result = stack.engine.infer(inputs)
    finally:
        stack.scrubber.scrub_all()
    after = stack.engine.statistics()
    assert result.outcome is InferenceOutcome.CORRECTED and same_bits(result.outputs, expected)
    assert after.votes_failed == before.votes_failed
    assert after.votes_corrected == before.votes_corrected + 1
    assert after.images_failed_verification == before.images_failed_verification + 1
