"""Packaging is byte-for-byte reproducible: each committed model folder, packaged again from its own
flight graph with the settings its manifest records, comes out with the very same bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import flight
import ground

ROOT = Path(__file__).resolve().parents[2]
GENERATED_NOTES = ("optimization_level", "max_abs_diff_vs_plain_session", "not_live")


@pytest.mark.parametrize("name", ["lander-discrete", "lander-continuous", "hazard-cnn"])
def test_repackaging_a_committed_model_folder_reproduces_every_byte(name, tmp_path, folder_bytes):
    committed = ROOT / "models" / name
    m = flight.load_manifest(committed / "manifest.yaml")
    with np.load(committed / "golden.npz") as golden:
        np.savez(tmp_path / "inputs.npz", **{k: golden[k] for k in golden.files if k.startswith("input:")})
    ground.package_model(
        committed / "model.onnx", tmp_path / "out", name=m.name, version=m.version, sequence=m.sequence,
        golden_inputs=tmp_path / "inputs.npz", level=m.notes["optimization_level"], chunk_size=m.chunk_size,
        input_ranges={s.name: s.range for s in m.inputs if s.range is not None},
        output_ranges={s.name: s.range for s in m.outputs if s.range is not None},
        world=m.world, notes={k: v for k, v in m.notes.items() if k not in GENERATED_NOTES},
    )
    assert folder_bytes(tmp_path / "out") == folder_bytes(committed)


def test_the_per_chunk_crc_rule_is_the_flights(mlp_dir, big_mlp_small_chunks_dir):
    """The ground writes the chunk CRCs with the flight's one definition of the rule."""
    for directory in (mlp_dir, big_mlp_small_chunks_dir):
        stored = flight.open_model(directory)
        for rec in stored.manifest.live_tensors:
            raw = stored.tensors[rec.name].tobytes()
            assert rec.chunks == flight.storage.chunk_crcs(raw, stored.manifest.chunk_size)
            assert len(rec.chunks) == len(flight.storage.chunk_spans(rec.nbytes, stored.manifest.chunk_size))
