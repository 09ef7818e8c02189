"""Fault records applied through the weight image's bounds-checked bit writes, and removed exactly."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from fault_injection import BitFlip, StuckAt
from flight import Replica, open_model


@pytest.fixture
def stack(mlp_dir):
    """What an instrument sees of the executive: its replicas."""
    model = open_model(mlp_dir)
    return SimpleNamespace(replicas=[Replica(i, model) for i in range(3)])


def bit_of(replica, tensor, element, bit) -> int:
    return (int(replica.image.arrays[tensor].reshape(-1)[element : element + 1].view(np.uint32)[0]) >> bit) & 1


def test_a_bit_flip_applies_to_one_replica_and_its_record_undoes_it(stack):
    pristine = [r.image.buffer.copy() for r in stack.replicas]
    undo = BitFlip(replica=1, tensor="w2", element=7, bit=30).apply(stack)
    assert not np.array_equal(stack.replicas[1].image.buffer, pristine[1])
    assert all(np.array_equal(stack.replicas[i].image.buffer, pristine[i]) for i in (0, 2))
    stack.replicas[1].image.undo(undo)
    assert np.array_equal(stack.replicas[1].image.buffer, pristine[1])


@pytest.mark.parametrize("value", [0, 1])
def test_stuck_at_forces_the_bit_every_cycle_however_often_it_is_repaired(stack, value):
    replica = stack.replicas[2]
    pristine = replica.image.buffer.copy()
    stuck = StuckAt(replica=2, tensor="b1", element=3, bit=30, value=value)
    for cycle in range(1, 4):
        stuck.cycle_start(cycle, stack)
        assert bit_of(replica, "b1", 3, 30) == value
        replica.image.buffer[...] = pristine  # the scrubber repairs it; the next cycle forces it again
    stuck.cycle_start(4, stack)
    stuck.remove(stack)
    assert np.array_equal(replica.image.buffer, pristine)


def test_a_stuck_at_outside_the_tensor_is_refused_naming_the_bound(stack):
    pristine = stack.replicas[0].image.buffer.copy()
    with pytest.raises(ValueError, match=r"^element 16 out of range for b1 \(16 elements\)$"):
        StuckAt(replica=0, tensor="b1", element=16, bit=0).cycle_start(1, stack)
    with pytest.raises(ValueError, match=r"^bit 40 out of range for float32 \(bits 0\.\.31\)$"):
        StuckAt(replica=0, tensor="b1", element=0, bit=40).cycle_start(1, stack)
    assert np.array_equal(stack.replicas[0].image.buffer, pristine)
