"""The voter: exact element-wise 2-of-3 agreement, never a median."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flight
from flight import IOSpec, VoteOutcome, vote

SPECS = (IOSpec("logits", "float32", (1, 4)), IOSpec("value", "float32", (1, 1), (-10.0, 10.0)))


def outputs(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 4)).astype(np.float32), rng.uniform(-1, 1, (1, 1)).astype(np.float32)]


def copies(n: int = 3, seed: int = 0) -> list[list[np.ndarray]]:
    return [[a.copy() for a in outputs(seed)] for _ in range(n)]


def flip(arr: np.ndarray, element: int, bit: int) -> None:
    arr.reshape(-1).view(np.uint32)[element] ^= np.uint32(1 << bit)


def same_bits(got, expected) -> bool:
    return len(got) == len(expected) and all(g.tobytes() == e.tobytes() and g.shape == e.shape for g, e in zip(got, expected))


def test_unanimous_replicas_take_the_fast_path():
    result = vote(copies(), SPECS)
    assert result.outcome is VoteOutcome.UNANIMOUS
    assert result.suspects == frozenset()
    assert result.valid
    assert same_bits(result.outputs, outputs())


def test_voted_outputs_are_fresh_arrays_not_the_replicas_buffers():
    replicas = copies()
    result = vote(replicas, SPECS)
    replicas[0][0][...] = 99.0
    assert same_bits(result.outputs, outputs())


def test_single_flip_is_outvoted_and_its_replica_named():
    for culprit in range(3):
        replicas = copies()
        flip(replicas[culprit][0], 2, 22)
        result = vote(replicas, SPECS)
        assert result.outcome is VoteOutcome.CORRECTED
        assert result.suspects == frozenset({culprit})
        assert same_bits(result.outputs, outputs())


def test_two_replicas_hit_in_different_elements_are_both_outvoted():
    replicas = copies()
    flip(replicas[0][0], 0, 30)
    flip(replicas[2][0], 3, 1)
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.CORRECTED
    assert result.suspects == frozenset({0, 2})
    assert same_bits(result.outputs, outputs())


def test_two_replicas_hit_in_different_outputs_are_both_outvoted():
    replicas = copies()
    flip(replicas[1][0], 1, 5)
    flip(replicas[2][1], 0, 3)
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.CORRECTED
    assert result.suspects == frozenset({1, 2})
    assert same_bits(result.outputs, outputs())


def test_no_two_replicas_agreeing_on_an_element_is_no_majority():
    replicas = copies()
    flip(replicas[0][0], 2, 3)
    flip(replicas[1][0], 2, 4)
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.NO_MAJORITY
    assert result.outputs is None
    assert not result.valid
    assert result.reason == "logits element 2: no two replicas agree"


def test_nan_agreed_by_all_replicas_is_invalid_output():
    replicas = copies()
    for r in replicas:
        r[0][0, 1] = np.nan
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.INVALID_OUTPUT
    assert result.outputs is None
    assert result.reason == "logits is not finite"


def test_nan_agreed_by_two_replicas_is_invalid_output():
    replicas = copies()
    replicas[0][0][0, 0] = np.nan
    replicas[1][0][0, 0] = np.nan
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.INVALID_OUTPUT
    assert result.outputs is None
    assert result.suspects == frozenset({2})


def test_infinity_agreed_by_all_is_invalid_output():
    replicas = copies()
    for r in replicas:
        r[0][0, 3] = -np.inf
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.INVALID_OUTPUT
    assert result.outputs is None


def test_output_outside_declared_range_is_invalid_output():
    replicas = copies()
    for r in replicas:
        r[1][0, 0] = 10.5
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.INVALID_OUTPUT
    assert result.outputs is None
    assert result.reason == "value outside [-10, 10]"


def test_output_on_the_range_boundary_is_valid():
    replicas = copies()
    for r in replicas:
        r[1][0, 0] = -10.0
    assert vote(replicas, SPECS).outcome is VoteOutcome.UNANIMOUS


def test_missing_replica_with_the_other_two_agreeing_is_corrected_naming_it():
    for missing in range(3):
        replicas: list = copies()
        replicas[missing] = None
        result = vote(replicas, SPECS)
        assert result.outcome is VoteOutcome.CORRECTED
        assert result.suspects == frozenset({missing})
        assert same_bits(result.outputs, outputs())


def test_missing_replica_with_the_other_two_disagreeing_is_no_majority():
    replicas: list = copies()
    replicas[0] = None
    flip(replicas[1][0], 0, 0)
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.NO_MAJORITY
    assert result.outputs is None


def test_two_missing_replicas_is_no_majority():
    replicas: list = copies()
    replicas[0] = replicas[2] = None
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.NO_MAJORITY
    assert result.outputs is None


def test_duplex_disagreement_is_no_majority():
    replicas = copies(2)
    flip(replicas[1][0], 0, 0)
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.NO_MAJORITY
    assert result.outputs is None
    assert result.reason == "replicas disagree"


def test_duplex_agreement_is_unanimous():
    result = vote(copies(2), SPECS)
    assert result.outcome is VoteOutcome.UNANIMOUS
    assert same_bits(result.outputs, outputs())


def test_simplex_emits_only_a_valid_output():
    assert vote(copies(1), SPECS).outcome is VoteOutcome.UNANIMOUS
    bad = copies(1)
    bad[0][0][0, 0] = np.nan
    assert vote(bad, SPECS).outcome is VoteOutcome.INVALID_OUTPUT


def test_negative_and_positive_zero_are_different_bits():
    """Exact voting: -0.0 and +0.0 compare equal as floats but are different bits."""
    replicas = copies()
    for r in replicas:
        r[0][0, 0] = 0.0
    replicas[1][0][0, 0] = -0.0
    result = vote(replicas, SPECS)
    assert result.outcome is VoteOutcome.CORRECTED
    assert result.suspects == frozenset({1})


@settings(deadline=None, max_examples=150)
@given(
    seed=st.integers(0, 2**32 - 1),
    culprit=st.integers(0, 2),
    which=st.integers(0, 1),
    corrupt=st.binary(min_size=1, max_size=16),
    offset=st.integers(0, 15),
)
def test_any_corruption_of_one_replicas_output_bytes_is_outvoted(seed, culprit, which, corrupt, offset):
    clean = outputs(seed)
    replicas = copies(seed=seed)
    raw = replicas[culprit][which].reshape(-1).view(np.uint8)
    start = offset % raw.size
    piece = np.frombuffer(corrupt, np.uint8)[: raw.size - start]
    changed = not np.array_equal(raw[start : start + piece.size], piece)
    raw[start : start + piece.size] = piece
    result = vote(replicas, SPECS)
    assert result.valid
    assert same_bits(result.outputs, clean)
    assert result.suspects == (frozenset({culprit}) if changed else frozenset())


def test_vote_result_is_frozen():
    result = vote(copies(), SPECS)
    assert isinstance(result, flight.VoteResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.outcome = VoteOutcome.NO_MAJORITY  # type: ignore[misc]
