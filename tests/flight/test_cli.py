"""`flight verify`: a good folder passes with a summary; every bad folder is refused with exactly one
line naming the file, or tensor and chunk, and nothing stored is changed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from flight.storage._manifest import seal

ROOT = Path(__file__).resolve().parents[2]


def verify(directory, *extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "flight", "verify", str(directory), *extra],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )


def edit_manifest(directory: Path, change) -> None:
    path = directory / "manifest.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(seal(data), sort_keys=False))  # re-sealed: the deeper check must catch it


def assert_one_line_refusal(result, *fragments):
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("flight: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_good_folder_verifies_with_a_summary_line(mlp_dir, folder_bytes):
    before = folder_bytes(mlp_dir)
    result = verify(mlp_dir)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("mlp 1.0.0: OK  sha256 ")
    assert "4 tensors (4 live) in 4 chunks, 8 golden vectors bit-exact" in lines[0]
    assert folder_bytes(mlp_dir) == before


def test_verify_json_is_parseable(big_mlp_dir):
    result = verify(big_mlp_dir, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    manifest = yaml.safe_load((big_mlp_dir / "manifest.yaml").read_text())
    assert summary["ok"] is True
    assert summary["model"] == "big_mlp"
    assert summary["sha256"] == manifest["model_sha256"]
    assert summary["tensors"] == summary["live_tensors"] == 6
    assert summary["chunks"] == 9  # w2 is 256 KiB: four 64 KiB chunks; five tensors of one chunk
    assert summary["golden_vectors"] == 4
    assert summary["unprotected"] == []


def test_flipped_byte_in_model_file_is_refused_naming_it(mlp_dir, model_copy, folder_bytes):
    d = model_copy(mlp_dir)
    data = bytearray((d / "model.onnx").read_bytes())
    data[len(data) // 3] ^= 0x04
    (d / "model.onnx").write_bytes(bytes(data))
    before = folder_bytes(d)
    line = assert_one_line_refusal(verify(d), str(d / "model.onnx"), "sha256", "disagrees with manifest")
    assert folder_bytes(d) == before, line


def test_flipped_byte_refusal_in_json_mode_is_parseable(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    data = bytearray((d / "model.onnx").read_bytes())
    data[-2] ^= 0x80
    (d / "model.onnx").write_bytes(bytes(data))
    result = verify(d, "--json")
    assert_one_line_refusal(result, "model.onnx")
    out = json.loads(result.stdout)
    assert out["ok"] is False
    assert "model.onnx" in out["error"]


def test_chunk_crc_disagreeing_with_the_manifest_names_tensor_and_chunk(big_mlp_dir, model_copy, folder_bytes):
    d = model_copy(big_mlp_dir)

    def change(m):
        w2 = next(t for t in m["tensors"] if t["name"] == "w2")
        w2["chunks"][2] = f"0x{int(w2['chunks'][2], 16) ^ 1:08x}"

    edit_manifest(d, change)
    before = folder_bytes(d)
    assert_one_line_refusal(verify(d), "tensor w2 chunk 2: CRC-32C")
    assert folder_bytes(d) == before


def test_tensor_crc_disagreeing_with_the_manifest_names_the_tensor(mlp_dir, model_copy, folder_bytes):
    d = model_copy(mlp_dir)

    def change(m):
        b1 = next(t for t in m["tensors"] if t["name"] == "b1")
        b1["crc32c"] = f"0x{int(b1['crc32c'], 16) ^ 0x100:08x}"

    edit_manifest(d, change)
    before = folder_bytes(d)
    assert_one_line_refusal(verify(d), "tensor b1: CRC-32C")
    assert folder_bytes(d) == before


def test_wrong_sha256_in_the_manifest_names_the_model_file(mlp_dir, model_copy, folder_bytes):
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: m.update(model_sha256="0" * 64))
    before = folder_bytes(d)
    assert_one_line_refusal(verify(d), str(d / "model.onnx"), "sha256", "0000000000000000")
    assert folder_bytes(d) == before


def test_missing_golden_vectors_are_named(mlp_dir, model_copy, folder_bytes):
    d = model_copy(mlp_dir)
    (d / "golden.npz").unlink()
    before = folder_bytes(d)
    assert_one_line_refusal(verify(d), str(d / "golden.npz"), "missing golden vectors")
    assert folder_bytes(d) == before


def test_flipped_byte_in_golden_vectors_is_refused_naming_the_file(mlp_dir, model_copy, folder_bytes):
    d = model_copy(mlp_dir)
    data = bytearray((d / "golden.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (d / "golden.npz").write_bytes(bytes(data))
    before = folder_bytes(d)
    assert_one_line_refusal(verify(d), str(d / "golden.npz"), "sha256")
    assert folder_bytes(d) == before


def test_manifest_input_name_not_matching_the_model_is_refused(mlp_dir, model_copy, folder_bytes):
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: m["inputs"][0].update(name="observation"))
    before = folder_bytes(d)
    line = assert_one_line_refusal(verify(d))
    assert line == "flight: error: model inputs ['obs'] do not match manifest ['observation']"
    assert folder_bytes(d) == before


def test_manifest_output_shape_not_matching_the_model_is_refused(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: m["outputs"][0].update(shape=[1, 5]))
    line = assert_one_line_refusal(verify(d))
    assert line == "flight: error: model output logits: shape [1, 4] does not match manifest [1, 5]"


def test_malformed_manifest_yaml_is_refused_in_one_line(mlp_dir, model_copy, folder_bytes):
    d = model_copy(mlp_dir)
    (d / "manifest.yaml").write_text("format: seuguard-model/1\ntensors: [\n  {name: w1\n")
    before = folder_bytes(d)
    assert_one_line_refusal(verify(d), "manifest.yaml: not valid YAML at line")
    assert folder_bytes(d) == before


def test_manifest_missing_a_key_is_refused_naming_it(mlp_dir, model_copy):
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: m.pop("outputs"))
    line = assert_one_line_refusal(verify(d))
    assert line == "flight: error: manifest.yaml: missing key 'outputs'"


def test_not_a_folder_is_refused(tmp_path):
    line = assert_one_line_refusal(verify(tmp_path / "nowhere"))
    assert line == f"flight: error: {tmp_path / 'nowhere'}: not a model folder"


def test_golden_outputs_outside_the_declared_output_range_are_refused(mlp_dir, model_copy):
    """A manifest whose own golden outputs the voter would refuse as out of range contradicts itself:
    every such inference would be INVALID_OUTPUT. verify should say so before the model flies."""
    d = model_copy(mlp_dir)
    edit_manifest(d, lambda m: m["outputs"][0].update(range=[100.0, 200.0]))
    assert_one_line_refusal(verify(d), "logits")
