"""One stored model: `open_model` refuses every kind of damage with a message naming it, and
`reload_chunk` returns only bytes that match the ground's chunk CRC."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from flight.storage._manifest import seal

import flight
from flight import ManifestError, ModelCorrupted, open_model
from flight.storage import chunk_crcs, chunk_spans


def edit_manifest(directory: Path, change) -> None:
    path = directory / "manifest.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(seal(data), sort_keys=False, width=100))  # a consistent, sealed edit


def tensor_entry(data: dict, name: str) -> dict:
    return next(t for t in data["tensors"] if t["name"] == name)


def replace_golden(directory: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write golden.npz and make the manifest's file digest match it (so a later check is reached)."""
    np.savez(directory / "golden.npz", **arrays)
    digest = hashlib.sha256((directory / "golden.npz").read_bytes()).hexdigest()
    edit_manifest(directory, lambda d: d["golden"].update(file_sha256=digest))


def golden_arrays(directory: Path) -> dict[str, np.ndarray]:
    with np.load(directory / "golden.npz") as npz:
        return {k: npz[k] for k in npz.files}


def refused(directory: Path, error=ModelCorrupted) -> str:
    with pytest.raises(error) as info:
        open_model(directory)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- open_model: every refusal named ------------------------------------------------------------------


def test_a_good_folder_opens_with_its_tensors_and_golden_vectors(mlp_dir):
    stored = open_model(mlp_dir)
    assert sorted(stored.tensors) == ["b1", "b2", "w1", "w2"]
    assert len(stored.golden_inputs) == len(stored.golden_outputs) == stored.manifest.golden.count
    assert stored.model_path == Path(mlp_dir) / "model.onnx"


def test_not_a_folder(tmp_path):
    assert refused(tmp_path / "none") == f"{tmp_path / 'none'}: not a model folder"


def test_missing_manifest(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    (d / "manifest.yaml").unlink()
    assert refused(d, ManifestError) == f"{d / 'manifest.yaml'}: missing"


def test_missing_model_file(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    (d / "model.onnx").unlink()
    assert refused(d) == f"{d / 'model.onnx'}: missing"


def test_model_file_changed_by_one_bit(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    data = bytearray((d / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x10
    (d / "model.onnx").write_bytes(bytes(data))
    assert re.fullmatch(rf"{d / 'model.onnx'}: sha256 [0-9a-f]{{16}}\.\.\. disagrees with manifest [0-9a-f]{{16}}\.\.\.",
                        refused(d))


def test_model_file_that_matches_its_digest_but_is_not_onnx(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    (d / "model.onnx").write_bytes(b"\xff" * 64)
    edit_manifest(d, lambda m: m.update(model_sha256=hashlib.sha256(b"\xff" * 64).hexdigest()))
    assert refused(d) == f"{d / 'model.onnx'}: not a valid ONNX model"


def test_a_chunk_crc_that_disagrees_names_tensor_and_chunk(big_mlp_small_chunks_dir, model_copy):
    d = model_copy(big_mlp_small_chunks_dir)
    edit_manifest(d, lambda m: tensor_entry(m, "w2")["chunks"].__setitem__(7, "0x00000000"))
    assert re.fullmatch(r"tensor w2 chunk 7: CRC-32C 0x[0-9a-f]{8} disagrees with manifest 0x00000000", refused(d))


def test_a_whole_tensor_crc_that_disagrees_names_the_tensor(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: tensor_entry(m, "b1").update(crc32c="0x00000001"))
    assert re.fullmatch(r"tensor b1: CRC-32C 0x[0-9a-f]{8} disagrees with manifest 0x00000001", refused(d))


def test_an_initializer_the_manifest_does_not_name(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: m.update(tensors=[t for t in m["tensors"] if t["name"] != "b2"]))
    assert refused(d) == "initializer b2 is not in the manifest"


def test_a_manifest_tensor_missing_from_the_model(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    extra = {"name": "ghost", "dtype": "float32", "shape": [1], "nbytes": 4, "live": True,
             "crc32c": "0x00000000", "chunks": ["0x00000000"]}
    edit_manifest(d, lambda m: m["tensors"].append(extra))
    assert refused(d) == "tensor ghost: in the manifest but not in model.onnx"


def test_a_tensor_whose_shape_disagrees(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: tensor_entry(m, "w1").update(shape=[8, 16]))
    assert refused(d) == "tensor w1: float32[16, 8] disagrees with manifest float32[8, 16]"


def test_inputs_that_disagree_with_the_manifest(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: m["inputs"][0].update(name="x"))
    assert refused(d) == "model inputs ['obs'] do not match manifest ['x']"


def test_an_output_shape_that_disagrees(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: m["outputs"][0].update(shape=[1, 5]))
    assert refused(d) == "model output logits: shape [1, 4] does not match manifest [1, 5]"


def test_missing_golden_vectors(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    (d / "golden.npz").unlink()
    assert refused(d) == f"{d / 'golden.npz'}: missing golden vectors"
    assert open_model(d, golden=False).golden_inputs == []  # the ground, still computing them


def test_golden_vectors_changed(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    data = bytearray((d / "golden.npz").read_bytes())
    data[-10] ^= 1
    (d / "golden.npz").write_bytes(bytes(data))
    assert re.fullmatch(rf"{d / 'golden.npz'}: sha256 [0-9a-f]{{16}}\.\.\. disagrees with manifest", refused(d))


def test_golden_vectors_that_are_not_an_npz(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    (d / "golden.npz").write_bytes(b"not a zip")
    edit_manifest(d, lambda m: m["golden"].update(file_sha256=hashlib.sha256(b"not a zip").hexdigest()))
    assert refused(d) == f"{d / 'golden.npz'}: unreadable golden vectors (ValueError)"


def test_golden_vectors_without_an_expected_output(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    arrays = golden_arrays(d)
    del arrays["output:logits"]
    replace_golden(d, arrays)
    assert refused(d) == f"{d / 'golden.npz'}: no 'output:logits' array"


def test_golden_vectors_of_the_wrong_shape(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    arrays = golden_arrays(d)
    arrays["input:obs"] = arrays["input:obs"][:, :, :7]
    replace_golden(d, arrays)
    n = flight.load_manifest(d / "manifest.yaml").golden.count
    assert refused(d) == f"{d / 'golden.npz'}: 'input:obs' is float32[{n}, 1, 7], expected float32[{n}, 1, 8]"


def test_golden_outputs_that_disagree_with_the_manifest_digest(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    arrays = golden_arrays(d)
    arrays["output:logits"] = arrays["output:logits"] + np.float32(1.0)
    replace_golden(d, arrays)
    assert refused(d) == f"{d / 'golden.npz'}: expected outputs disagree with the manifest digest"


# --- reload_chunk ---------------------------------------------------------------------------------------


def test_reload_chunk_returns_the_verified_bytes_of_every_chunk(big_mlp_small_chunks_dir):
    stored = open_model(big_mlp_small_chunks_dir)
    size = stored.manifest.chunk_size
    for rec in stored.manifest.live_tensors:
        raw = stored.tensors[rec.name].tobytes()
        spans = chunk_spans(rec.nbytes, size)
        assert len(spans) == len(rec.chunks) == len(chunk_crcs(raw, size))
        for j, (start, length) in enumerate(spans):
            data = stored.reload_chunk(rec.name, j)
            assert data.dtype == np.uint8 and data.tobytes() == raw[start : start + length]


def test_reload_chunk_accepts_a_chunk_record_by_its_tensor_and_index(big_mlp_small_chunks_dir):
    stored = open_model(big_mlp_small_chunks_dir)
    layout = flight.ImageLayout.from_manifest(stored.manifest)
    chunk = next(c for c in layout.chunks if c.tensor == "w2" and c.tensor_chunk == 5)
    assert stored.reload_chunk(chunk).tobytes() == stored.reload_chunk("w2", 5).tobytes()
    duck = SimpleNamespace(tensor="w2", tensor_chunk=5)  # storage needs nothing more of the engine
    assert flight.crc32c(stored.reload_chunk(duck)) == chunk.crc


def test_reload_chunk_refuses_what_the_manifest_does_not_have(mlp_dir):
    stored = open_model(mlp_dir)
    with pytest.raises(ModelCorrupted, match=r"^tensor nope: not in the manifest$"):
        stored.reload_chunk("nope", 0)
    with pytest.raises(ModelCorrupted, match=r"^tensor w1 chunk 1: no such chunk \(1 chunks\)$"):
        stored.reload_chunk("w1", 1)
    with pytest.raises(ModelCorrupted, match=r"^tensor w1 chunk -1: no such chunk \(1 chunks\)$"):
        stored.reload_chunk("w1", -1)
    with pytest.raises(TypeError, match=r"the chunk index is missing$"):
        stored.reload_chunk("w1")


def test_reload_chunk_refuses_a_storage_copy_that_changed(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    stored = open_model(d)
    data = bytearray((d / "model.onnx").read_bytes())
    data[-1] ^= 1
    (d / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelCorrupted, match=r"model.onnx: sha256 .* disagrees with manifest"):
        stored.reload_chunk("w1", 0)


def test_reload_chunk_refuses_a_chunk_whose_reference_crc_disagrees(mlp_dir, model_copy):
    """The file's digest is right but the manifest in memory says another CRC: never returned."""
    stored = open_model(model_copy(mlp_dir))
    rec = stored.manifest.tensor("b2")
    bad = replace(rec, chunks=(rec.chunks[0] ^ 1,))
    stored.manifest = replace(stored.manifest, tensors=tuple(bad if t is rec else t for t in stored.manifest.tensors))
    with pytest.raises(ModelCorrupted, match=r"^tensor b2 chunk 0: storage copy fails its CRC$"):
        stored.reload_chunk("b2", 0)


# --- the chunk rule itself -----------------------------------------------------------------------------


@pytest.mark.parametrize("nbytes, size, spans", [
    (0, 64, ((0, 0),)),
    (1, 64, ((0, 1),)),
    (64, 64, ((0, 64),)),
    (65, 64, ((0, 64), (64, 1))),
    (200, 64, ((0, 64), (64, 64), (128, 64), (192, 8))),
])
def test_chunk_spans_cut_a_tensor_into_chunk_size_slices_the_last_shorter(nbytes, size, spans):
    assert chunk_spans(nbytes, size) == spans


def test_chunk_crcs_are_the_crc_of_each_span():
    raw = bytes(range(256)) * 3
    assert chunk_crcs(raw, 256) == tuple(flight.crc32c(raw[i : i + 256]) for i in (0, 256, 512))
    assert chunk_crcs(np.frombuffer(raw, np.uint8), 512) == (flight.crc32c(raw[:512]), flight.crc32c(raw[512:]))
    assert chunk_crcs(b"", 64) == (0,)


def test_chunk_spans_refuse_nonsense():
    with pytest.raises(ValueError, match=r"^chunk_size must be > 0, got 0$"):
        chunk_spans(10, 0)
    with pytest.raises(ValueError, match=r"^nbytes must be >= 0, got -1$"):
        chunk_spans(-1, 64)


