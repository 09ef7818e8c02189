"""`ground package` refuses what it would otherwise damage or change silently: an output folder it
did not write, a symbolic dimension other than the batch one, a model over `--max-bytes`; and a
refusal leaves no staging folder behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ground
from ground._cli import main

ROOT = Path(__file__).resolve().parents[2]


def tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(directory.rglob("*"))}


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("setup, message", [
    (lambda d: (d / "notes.txt").write_text("mine"), "not a model folder written by `ground package` (holds 'notes.txt')"),
    (lambda d: (d / "manifest.yaml").write_text("format: other\\n"), "no seuguard-model/1 manifest"),
    (lambda d: ((d / "manifest.yaml").write_text("format: seuguard-model/1\\n"), (d / "sub").mkdir()),
     "(holds 'sub')"),
])
def test_a_folder_it_did_not_write_is_refused_and_untouched(mlp_source, tmp_path, capsys, setup, message):
    out = tmp_path / "out"
    out.mkdir()
    setup(out)
    before = tree(tmp_path)
    assert main(["package", str(mlp_source), "-o", str(out), "--golden", "2"]) == 1
    line = one_line(capsys)
    assert line.startswith(f"ground: error: {out}: ") and message in line and line.endswith("refusing to replace it")
    assert tree(tmp_path) == before


def test_the_current_folder_and_its_parents_are_refused(mlp_source, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("keep")
    monkeypatch.chdir(work)
    for target in (".", "..", str(work)):
        before = tree(tmp_path)
        assert main(["package", str(mlp_source), "-o", target, "--golden", "2"]) == 1
        assert "refusing to replace the current folder or one above it" in one_line(capsys)
        assert tree(tmp_path) == before


def test_a_file_as_the_output_folder_is_a_usage_error(mlp_source, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep")
    with pytest.raises(SystemExit) as info:
        main(["package", str(mlp_source), "-o", str(target)])
    assert info.value.code == 2
    assert f"{target}: is a file, not a folder" in one_line(capsys)
    assert target.read_text() == "keep"


def test_an_empty_folder_is_filled(mlp_source, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    ground.package_model(mlp_source, out, golden_count=2)
    assert sorted(p.name for p in out.iterdir()) == ["golden.npz", "manifest.yaml", "model.onnx"]


def test_a_failure_after_compiling_leaves_no_staging_and_no_new_folder(mlp_source, tmp_path, capsys):
    np.savez(tmp_path / "inputs.npz", obs=np.zeros((2, 7), np.float32))
    before = tree(tmp_path)
    assert main(["package", str(mlp_source), "-o", str(tmp_path / "out" / "m"),
                 "--golden-inputs", str(tmp_path / "inputs.npz")]) == 1
    assert "'obs' has shape [2, 7]" in one_line(capsys)
    assert tree(tmp_path) == before


def symbolic_model(path: Path, dims: list) -> Path:
    """y = x * 1 for an input with the given dims (ints, symbolic names, or None for unknown)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)
    w = numpy_helper.from_array(np.ones((1,), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, path)
    return path


@pytest.mark.parametrize("dims, named", [
    ([1, "F"], "dimension 1 ('F')"),
    (["N", 3, "H", "W"], "dimensions 2 ('H'), 3 ('W')"),
    ([1, None], "dimension 1 not fixed"),
])
def test_a_symbolic_dimension_other_than_the_batch_is_refused_naming_it(tmp_path, capsys, dims, named):
    source = symbolic_model(tmp_path / "s.onnx", dims)
    assert main(["package", str(source), "-o", str(tmp_path / "out"), "--golden", "2"]) == 1
    line = one_line(capsys)
    assert line.startswith("ground: error: input x: ") and named in line
    assert "only the batch dimension (the first) is set to 1" in line
    assert not (tmp_path / "out").exists()


def test_a_symbolic_batch_dimension_is_fixed_to_one(tmp_path):
    source = symbolic_model(tmp_path / "s.onnx", ["N", 3])
    ground.package_model(source, tmp_path / "out", golden_count=2)
    import flight

    assert flight.load_manifest(tmp_path / "out" / "manifest.yaml").inputs[0].shape == (1, 3)


def test_a_model_over_max_bytes_is_refused_before_loading(mlp_source, tmp_path, capsys):
    size = os.stat(mlp_source).st_size
    assert main(["package", str(mlp_source), "-o", str(tmp_path / "out"), "--max-bytes", str(size - 1)]) == 1
    line = one_line(capsys)
    assert line.startswith(f"ground: error: {mlp_source}: ") and "is over the --max-bytes limit" in line
    assert not (tmp_path / "out").exists()
    assert main(["package", str(mlp_source), "-o", str(tmp_path / "out"), "--max-bytes", str(size),
                 "--golden", "2"]) == 0


def test_the_default_max_bytes_is_two_gib():
    assert ground._package.DEFAULT_MAX_BYTES == 2 * 2**30
