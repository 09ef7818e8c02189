"""Replicas: golden vectors reproduce bit for bit, and every float tensor is proven live."""

import numpy as np
import pytest
import yaml

from flight.storage._manifest import seal

import flight
import ground


def float_tensors(manifest):
    return {t.name for t in manifest.tensors if t.dtype.startswith("float")}


@pytest.mark.parametrize("model", ["mlp_dir", "cnn_dir", "big_mlp_dir"])
def test_every_float_tensor_is_live(request, model):
    directory = request.getfixturevalue(model)
    stored = flight.open_model(directory)
    assert stored.manifest.unprotected == ()
    assert {t.name for t in stored.manifest.live_tensors} == float_tensors(stored.manifest)
    replica = flight.Replica(0, stored)
    report = flight.prove_liveness(replica)
    assert set(report.live) == float_tensors(stored.manifest)
    assert report.not_live == ()


def test_liveness_proof_leaves_the_image_and_outputs_bit_exact(cnn_dir):
    stored = flight.open_model(cnn_dir)
    replica = flight.Replica(0, stored)
    before = replica.image.buffer.copy()
    flight.prove_liveness(replica)
    assert np.array_equal(before, replica.image.buffer)
    assert replica.image.bad_chunks() == []
    flight.check_golden(replica)


def test_boot_reports_no_unprotected_tensor_for_a_live_model(cnn_dir):
    stack = flight.boot(cnn_dir, scheduling="serial")
    try:
        assert stack.boot.not_live == ()
        assert stack.boot.live_tensors == 4
        assert stack.boot.image_bytes == sum(t.nbytes for t in stack.model.manifest.live_tensors)
    finally:
        stack.close()


def test_tensor_that_cannot_reach_the_output_is_packaged_not_live(dead_source, tmp_path):
    report = ground.package_model(dead_source, tmp_path / "dead", golden_count=4)
    assert report.not_live == ("dead_bias",)
    assert set(report.live) == {"w", "b", "zeros"}
    stored = flight.open_model(tmp_path / "dead")
    assert stored.manifest.tensor("dead_bias").live is False
    assert stored.manifest.unprotected == ("dead_bias",)
    assert "dead_bias" not in stored.tensors
    stack = flight.boot(tmp_path / "dead", scheduling="serial")
    try:
        assert stack.boot.not_live == ("dead_bias",)
    finally:
        stack.close()


def test_prove_liveness_reports_a_dead_tensor_not_live(dead_source, tmp_path):
    """Mark the dead tensor live in the manifest (its CRCs stay right): the proof must catch it."""
    folder = tmp_path / "dead"
    ground.package_model(dead_source, folder, golden_count=4)
    path = folder / "manifest.yaml"
    data = yaml.safe_load(path.read_text())
    for t in data["tensors"]:
        if t["name"] == "dead_bias":
            t["live"] = True
    path.write_text(yaml.safe_dump(seal(data), sort_keys=False))  # re-sealed: the proof, not the CRC, must catch it
    stored = flight.open_model(folder)
    replica = flight.Replica(0, stored)
    assert "dead_bias" in replica.image.arrays
    report = flight.prove_liveness(replica)
    assert report.not_live == ("dead_bias",)
    assert set(report.live) == {"w", "b", "zeros"}
    stack = flight.boot(folder, scheduling="serial")
    try:
        assert stack.boot.not_live == ("dead_bias",)
    finally:
        stack.close()


def test_golden_vector_mismatch_is_model_corrupted(mlp_dir):
    replica = flight.Replica(0, flight.open_model(mlp_dir))
    flight.check_golden(replica)
    replica.image.flip_bit("b2", 1, 30)
    with pytest.raises(flight.ModelCorrupted, match=r"^golden vector 0: output logits differs from the ground's"):
        flight.check_golden(replica)


def test_replica_computes_from_its_own_image(mlp_dir):
    stored = flight.open_model(mlp_dir)
    a, b = flight.Replica(0, stored), flight.Replica(1, stored)
    inputs, expected = stored.golden_inputs[0], stored.golden_outputs[0]
    a.image.flip_bit("b2", 0, 30)
    assert a.run_copy(inputs)[0].tobytes() != expected[0].tobytes()
    assert b.run_copy(inputs)[0].tobytes() == expected[0].tobytes()
    assert np.array_equal(stored.tensors["b2"], b.image.arrays["b2"])
