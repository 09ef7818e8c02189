"""WeightImage layout and flips, and the bitwise majority repair."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flight
from flight.engine._weights import ALIGN


@st.composite
def buffers_with_one_hit_per_position(draw):
    """Three copies of a random buffer; at each byte at most one copy is corrupted."""
    n = draw(st.integers(1, 3000))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    original = rng.integers(0, 256, n, dtype=np.uint8)
    copies = [original.copy() for _ in range(3)]
    hit = rng.random(n) < draw(st.sampled_from([0.0, 0.001, 0.05, 0.5, 1.0]))
    who = rng.integers(0, 3, n)
    mask = rng.integers(1, 256, n, dtype=np.uint8)  # never zero: a real flip
    for r in range(3):
        sel = hit & (who == r)
        copies[r][sel] ^= mask[sel]
    block = draw(st.sampled_from([8, 64, 100, 4096, 64 * 1024]))
    return original, copies, block


@settings(deadline=None, max_examples=60)
@given(buffers_with_one_hit_per_position())
def test_majority_repair_restores_all_three_buffers(case):
    original, copies, block = case
    damaged = any(not np.array_equal(c, original) for c in copies)
    fixed = flight.majority_repair(copies, block=block)
    for c in copies:
        assert np.array_equal(c, original)
    assert (fixed > 0) == damaged


def test_majority_repair_refuses_buffers_of_different_sizes():
    with pytest.raises(ValueError, match=r"^images differ in size$"):
        flight.majority_repair([np.zeros(8, np.uint8), np.zeros(8, np.uint8), np.zeros(16, np.uint8)])


def test_majority_bytes_takes_each_bit_from_two_of_three():
    a = np.array([0b1010_1010], np.uint8)
    b = np.array([0b1100_1100], np.uint8)
    c = np.array([0b1111_0000], np.uint8)
    assert flight.majority_bytes(a, b, c)[0] == 0b1110_1000


def test_tensor_spanning_several_chunks_is_cut_at_chunk_size(big_mlp_dir, big_mlp_small_chunks_dir):
    for directory, chunk_size in ((big_mlp_dir, 64 * 1024), (big_mlp_small_chunks_dir, 4096)):
        model = flight.open_model(directory)
        layout = flight.ImageLayout.from_manifest(model.manifest)
        w2 = [c for c in layout.chunks if c.tensor == "w2"]
        assert len(w2) == 256 * 256 * 4 // chunk_size
        assert [c.tensor_chunk for c in w2] == list(range(len(w2)))
        assert all(c.length == chunk_size for c in w2)
        for slot in layout.tensors:
            assert slot.offset % ALIGN == 0
            chunks = [c for c in layout.chunks if c.tensor == slot.name]
            assert chunks[0].offset == slot.offset
            assert sum(c.length for c in chunks) == slot.nbytes  # chunks never span tensors
        image = flight.WeightImage(layout, model.tensors)
        assert image.bad_chunks() == []


def test_flip_bit_changes_exactly_one_bit_and_its_chunk(big_mlp_small_chunks_dir):
    model = flight.open_model(big_mlp_small_chunks_dir)
    image = flight.WeightImage(flight.ImageLayout.from_manifest(model.manifest), model.tensors)
    before = image.buffer.copy()
    element = 3 * 1024 + 5  # float32: 1024 elements per 4 KiB chunk, so this is in chunk 3
    image.flip_bit("w2", element, 30)
    diff = np.flatnonzero(before != image.buffer)
    assert len(diff) == 1
    assert np.unpackbits(before[diff] ^ image.buffer[diff]).sum() == 1
    assert image.arrays["w2"].reshape(-1)[element] != model.tensors["w2"].reshape(-1)[element]
    chunk = image.chunk_of("w2", element)
    assert chunk.tensor_chunk == 3
    assert image.bad_chunks() == [chunk]
    image.flip_bit("w2", element, 30)
    assert np.array_equal(before, image.buffer)
    assert image.bad_chunks() == []


def image_of(directory):
    model = flight.open_model(directory)
    return model, flight.WeightImage(flight.ImageLayout.from_manifest(model.manifest), model.tensors)


def test_flip_bit_rejects_bit_and_element_out_of_range(mlp_dir):
    _, image = image_of(mlp_dir)
    before = image.buffer.copy()
    with pytest.raises(ValueError, match=r"^bit 32 out of range for float32 \(bits 0\.\.31\)$"):
        image.flip_bit("w1", 0, 32)
    with pytest.raises(ValueError, match=r"^bit -1 out of range for float32 \(bits 0\.\.31\)$"):
        image.set_bit("w1", 0, -1, 1)
    with pytest.raises(ValueError, match=r"^element 128 out of range for w1 \(128 elements\)$"):
        image.flip_bit("w1", 128, 0)
    with pytest.raises(ValueError, match=r"^element -1 out of range for w1 \(128 elements\)$"):
        image.set_bit("w1", -1, 0, 0)
    with pytest.raises(ValueError, match=r"^tensor 'nope' is not a live tensor of this image \(one of w1, b1, w2, b2\)$"):
        image.flip_bit("nope", 0, 0)
    with pytest.raises(ValueError, match=r"^bit value must be 0 or 1, got 2$"):
        image.set_bit("w1", 0, 0, 2)
    assert np.array_equal(image.buffer, before)  # a refused write touched nothing


@st.composite
def bit_targets(draw, layout):
    slot = draw(st.sampled_from(layout.tensors), label="tensor")
    element = draw(st.integers(0, slot.nbytes // slot.dtype.itemsize - 1), label="element")
    bit = draw(st.integers(0, 8 * slot.dtype.itemsize - 1), label="bit")
    return slot, element, bit


@pytest.fixture(scope="module")
def cnn_image(cnn_dir):
    """One image for every example: each example must leave it exactly as it found it."""
    _, image = image_of(cnn_dir)
    return image, image.buffer.copy()


@settings(deadline=None, max_examples=200)
@given(data=st.data())
def test_flip_and_set_then_undo_restore_the_image_bit_exactly(cnn_image, data):
    image, pristine = cnn_image
    assert np.array_equal(pristine, image.buffer)
    slot, element, bit = data.draw(bit_targets(image.layout))
    value = data.draw(st.sampled_from([0, 1]), label="value")
    old = (int(image.arrays[slot.name].reshape(-1)[element:element + 1].view(f"u{slot.dtype.itemsize}")[0]) >> bit) & 1

    undo = image.flip_bit(slot.name, element, bit)
    diff = np.flatnonzero(pristine != image.buffer)
    assert len(diff) == 1 and np.unpackbits(pristine[diff] ^ image.buffer[diff]).sum() == 1
    assert undo.tensor == slot.name and undo.offset == slot.offset + element * slot.dtype.itemsize
    image.undo(undo)
    assert np.array_equal(pristine, image.buffer)

    undo = image.set_bit(slot.name, element, bit, value)
    changed = np.flatnonzero(pristine != image.buffer)
    assert len(changed) == (0 if old == value else 1)
    image.flip_bit(slot.name, element, (bit + 1) % (8 * slot.dtype.itemsize))  # more damage to the element
    image.undo(undo)
    assert np.array_equal(pristine, image.buffer)
    assert image.bad_chunks() == []


def test_set_bit_forces_the_bit_whatever_it_was(mlp_dir):
    model, image = image_of(mlp_dir)
    for value in (1, 0, 0, 1):
        image.set_bit("b1", 3, 30, value)
        word = image.arrays["b1"][3:4].view(np.uint32)[0]
        assert (int(word) >> 30) & 1 == value


def test_element_at_maps_a_byte_offset_back_to_its_element_and_refuses_padding(mlp_dir):
    _, image = image_of(mlp_dir)
    b1 = image.layout.slot("b1")
    assert image.element_at(b1.offset + 4 * 5 + 2) == ("b1", 5)
    assert image.element_offset("b1", 5) == b1.offset + 20
    padding = b1.offset + b1.nbytes  # 16 float32 = 64 bytes: aligned, so the next tensor follows
    w2 = image.layout.slot("w2")
    assert image.element_at(w2.offset) == ("w2", 0)
    last = image.layout.tensors[-1]
    end = last.offset + last.nbytes
    if end < image.layout.size:
        with pytest.raises(ValueError, match=rf"^byte offset {end} is in no tensor"):
            image.element_at(end)
    with pytest.raises(ValueError, match=rf"^byte offset {image.layout.size} is in no tensor \(image of {image.layout.size} bytes\)$"):
        image.element_at(image.layout.size)
    assert padding <= w2.offset


def test_an_undo_record_for_another_tensor_is_refused(mlp_dir):
    _, image = image_of(mlp_dir)
    undo = image.flip_bit("b1", 0, 3)
    forged = type(undo)("b2", undo.offset, undo.original)
    with pytest.raises(ValueError, match=r"^undo record for b2 at byte \d+ lies outside that tensor$"):
        image.undo(forged)
