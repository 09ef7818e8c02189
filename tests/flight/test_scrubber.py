"""The scrubber: bounded, resumable checking against the ground's CRCs; repair by majority, reload
from storage, and an honest 'unrepairable' when storage is bad too."""

import numpy as np
import pytest

import flight
from flight import ChunkRepair, InferenceOutcome


def same_bits(got, expected) -> bool:
    return len(got) == len(expected) and all(g.tobytes() == e.tobytes() for g, e in zip(got, expected))


@pytest.fixture
def stack(big_mlp_small_chunks_dir, model_copy):
    """A TMR stack over a private copy of the 4 KiB-chunk big MLP (w2 spans 64 chunks)."""
    s = flight.boot(model_copy(big_mlp_small_chunks_dir), scheduling="serial", scrub_budget_bytes=3 * 3 * 4096)
    yield s
    s.close()


W2_ELEMENT = 10 * 1024 + 77  # in w2's chunk 10 (1024 float32 per 4 KiB chunk)


def all_replicas_golden(stack) -> bool:
    return all(
        same_bits(r.run_copy(inputs), expected)
        for r in stack.replicas
        for inputs, expected in zip(stack.model.golden_inputs, stack.model.golden_outputs)
    )


def scrub_until_repair(stack, max_steps=1000):
    repairs = []
    for _ in range(max_steps):
        report = stack.scrubber.scrub_step()
        repairs.extend(report.repairs)
        if repairs:
            return repairs
    raise AssertionError("the scrubber never found the upset")


def test_clean_images_need_no_repair(stack):
    assert stack.scrubber.scrub_all() == []
    stats = stack.scrubber.statistics()
    assert stats.chunks_repaired == stats.chunks_reloaded == stats.chunks_unrepairable == 0
    assert stats.bytes_scrubbed == stack.scrubber.pass_bytes


def test_scrub_step_finds_and_repairs_a_single_flip_by_majority(stack):
    image = stack.replicas[1].image
    image.flip_bit("w2", W2_ELEMENT, 30)
    repairs = scrub_until_repair(stack)
    assert repairs == [ChunkRepair(1, "w2", 10, "majority")]
    assert all(r.image.bad_chunks() == [] for r in stack.replicas)
    assert all_replicas_golden(stack)
    stats = stack.scrubber.statistics()
    assert stats.chunks_repaired == 1
    assert stats.chunks_reloaded == 0
    assert stats.chunks_unrepairable == 0
    result = stack.engine.infer(stack.model.golden_inputs[0])
    assert result.outcome is InferenceOutcome.UNANIMOUS


def test_a_disagreement_is_verified_and_the_failing_image_repaired_before_release(stack):
    stack.replicas[1].image.flip_bit("w2", W2_ELEMENT, 30)
    result = stack.engine.infer(stack.model.golden_inputs[0])
    assert result.outcome is InferenceOutcome.CORRECTED and result.suspects == frozenset({1})
    assert result.repairs == (ChunkRepair(1, "w2", 10, "majority"),)
    assert same_bits(result.outputs, stack.model.golden_outputs[0])
    assert all(r.image.bad_chunks() == [] for r in stack.replicas)  # repaired at once, not at the next pass
    stats = stack.engine.statistics()
    assert stats.disagreements_verified == 1 and stats.images_failed_verification == 1
    assert stack.scrubber.statistics().chunks_repaired == 1


@pytest.mark.parametrize("bit", [0, 7, 22, 23, 31])
def test_scrub_all_repairs_a_single_flip_by_majority(stack, bit):
    stack.replicas[2].image.flip_bit("w2", W2_ELEMENT, bit)
    assert stack.replicas[2].image.bad_chunks() != []
    repairs = stack.scrubber.scrub_all()
    assert repairs == [ChunkRepair(2, "w2", 10, "majority")]
    assert all(r.image.bad_chunks() == [] for r in stack.replicas)
    assert all_replicas_golden(stack)
    assert stack.scrubber.statistics().chunks_repaired == 1


def test_repair_replica_scrubs_a_named_suspect_at_once(stack):
    stack.replicas[0].image.flip_bit("b1", 3, 30)
    repairs = stack.scrubber.repair_replica(0)
    assert repairs == [ChunkRepair(0, "b1", 0, "majority")]
    assert all_replicas_golden(stack)


def test_two_replicas_hit_in_different_bits_of_one_byte_are_repaired_by_majority(stack):
    stack.replicas[0].image.flip_bit("w2", W2_ELEMENT, 30)
    stack.replicas[1].image.flip_bit("w2", W2_ELEMENT, 29)
    repairs = stack.scrubber.scrub_all()
    assert sorted(repairs, key=lambda r: r.replica) == [ChunkRepair(0, "w2", 10, "majority"), ChunkRepair(1, "w2", 10, "majority")]
    assert all(r.image.bad_chunks() == [] for r in stack.replicas)
    assert all_replicas_golden(stack)
    assert stack.scrubber.statistics().chunks_reloaded == 0


def test_two_replicas_hit_in_the_same_bit_are_reloaded_from_storage(stack):
    for r in (0, 2):
        stack.replicas[r].image.flip_bit("w2", W2_ELEMENT, 30)
    repairs = scrub_until_repair(stack)
    assert sorted(repairs, key=lambda r: r.replica) == [ChunkRepair(0, "w2", 10, "reload"), ChunkRepair(2, "w2", 10, "reload")]
    stats = stack.scrubber.statistics()
    assert stats.chunks_reloaded == 2
    assert stats.chunks_repaired == 2
    assert stats.chunks_unrepairable == 0
    for r in stack.replicas:
        assert r.image.bad_chunks() == []
    assert all_replicas_golden(stack)


def test_two_hits_in_one_chunk_with_corrupted_storage_are_reported_unrepairable(stack):
    model_file = stack.model.model_path
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0x10
    model_file.write_bytes(bytes(data))
    for r in (0, 1):
        stack.replicas[r].image.flip_bit("w2", W2_ELEMENT, 30)
    damaged = [r.image.buffer.copy() for r in stack.replicas]
    repairs = stack.scrubber.scrub_all()
    assert sorted(repairs, key=lambda r: r.replica) == [
        ChunkRepair(0, "w2", 10, "unrepairable"),
        ChunkRepair(1, "w2", 10, "unrepairable"),
    ]
    stats = stack.scrubber.statistics()
    assert stats.chunks_unrepairable == 2
    assert stats.chunks_repaired == stats.chunks_reloaded == 0
    chunk = stack.replicas[0].image.chunk_of("w2", W2_ELEMENT)
    assert stack.scrubber.unrepairable == {(0, chunk.index), (1, chunk.index)}
    # Not silently "fixed": the images are exactly as damaged as before, and still fail their CRC.
    for r, before in zip(stack.replicas, damaged):
        assert np.array_equal(r.image.buffer, before)
    assert stack.replicas[0].image.bad_chunks() == [chunk]
    assert stack.replicas[1].image.bad_chunks() == [chunk]
    assert stack.replicas[2].image.bad_chunks() == []


def test_storage_copy_is_refused_when_the_model_file_changed(stack):
    chunk = stack.replicas[0].image.chunk_of("w2", W2_ELEMENT)
    assert flight.crc32c(stack.model.reload_chunk(chunk)) == chunk.crc
    model_file = stack.model.model_path
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 0x01
    model_file.write_bytes(bytes(data))
    with pytest.raises(flight.ModelCorrupted, match=r"sha256 .* disagrees with manifest"):
        stack.model.reload_chunk(chunk)


def test_scrub_step_is_bounded_and_resumes_until_a_full_pass(stack):
    scrubber = stack.scrubber
    positions = len(scrubber.chunks)
    per_step = 3  # the budget is three 4 KiB chunk positions across three images
    steps = 0
    seen = 0
    while True:
        report = scrubber.scrub_step()
        steps += 1
        assert report.bytes_checked <= scrubber.budget_bytes or report.chunks_checked == 3
        seen += report.chunks_checked // 3
        if report.full_pass_completed:
            break
        assert steps < 1000
    assert seen == positions
    assert steps >= positions // per_step
    stats = scrubber.statistics()
    assert stats.full_passes == 1
    assert stats.bytes_scrubbed == scrubber.pass_bytes
    assert stats.chunks_checked == positions * 3
    assert stats.last_full_pass_step == {0: steps, 1: steps, 2: steps}
    assert stats.steps == steps


def test_a_tiny_budget_still_makes_progress(stack):
    before = stack.scrubber.statistics().chunks_checked
    report = stack.scrubber.scrub_step(budget_bytes=1)
    assert report.chunks_checked == 3
    assert stack.scrubber.statistics().chunks_checked == before + 3


def test_scrubber_refuses_a_zero_budget(stack):
    with pytest.raises(ValueError, match=r"^scrub budget must be > 0 bytes, got 0$"):
        flight.Scrubber([r.image for r in stack.replicas], budget_bytes=0)


@pytest.mark.parametrize("redundancy", ["simplex", "duplex"])
def test_without_a_majority_a_bad_chunk_is_reloaded_from_storage(big_mlp_small_chunks_dir, model_copy, redundancy):
    stack = flight.boot(model_copy(big_mlp_small_chunks_dir), redundancy=redundancy, scheduling="serial")
    try:
        victim = len(stack.replicas) - 1
        stack.replicas[victim].image.flip_bit("w2", W2_ELEMENT, 3)
        repairs = stack.scrubber.scrub_all()
        assert repairs == [ChunkRepair(victim, "w2", 10, "reload")]
        assert stack.scrubber.statistics().chunks_reloaded == 1
        assert all(r.image.bad_chunks() == [] for r in stack.replicas)
        assert all_replicas_golden(stack)
    finally:
        stack.close()
