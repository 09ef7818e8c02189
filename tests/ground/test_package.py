"""`ground package`: compile offline, prove liveness, write golden vectors and references; refuse
bad input in one line; write the output folder only on success."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

import flight
import ground

ROOT = Path(__file__).resolve().parents[2]


def run(program, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", program, *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=120,
    )


def assert_one_line_refusal(result, prefix, *fragments):
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix)
    for fragment in fragments:
        assert fragment in lines[0]


def plain_outputs(source: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


# --- the CNN: Conv + BatchNormalization fused offline ----------------------------------------------


def test_cnn_conv_and_batchnorm_are_fused_offline(cnn_dir):
    model = onnx.load(cnn_dir / "model.onnx")
    ops = [n.op_type for n in model.graph.node]
    assert "BatchNormalization" not in ops
    assert "Conv" not in ops  # fused with BN (and Relu) into one node
    names = {t.name for t in model.graph.initializer}
    assert not names & {"bn_scale", "bn_bias", "bn_mean", "bn_var"}
    manifest = flight.load_manifest(cnn_dir / "manifest.yaml")
    assert {t.name for t in manifest.tensors} == names


def test_cnn_every_float_tensor_is_live_and_the_shape_is_embedded(cnn_package):
    manifest = flight.load_manifest(cnn_package.directory / "manifest.yaml")
    floats = {t.name for t in manifest.tensors if t.dtype.startswith("float")}
    assert set(cnn_package.live) == floats
    assert cnn_package.not_live == ()
    assert cnn_package.embedded == ("flat_shape",)
    shape = manifest.tensor("flat_shape")
    assert (shape.dtype, shape.shape, shape.live) == ("int64", (2,), False)
    assert manifest.unprotected == ()


def test_cnn_reshape_shape_keeps_its_real_value_in_the_flight_graph(cnn_dir):
    stored = flight.open_model(cnn_dir)
    graph = onnx.load_model_from_string(stored.flight_graph).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    assert init["flat_shape"].tolist() == [1, 256]
    for t in stored.manifest.live_tensors:  # live tensors fly as placeholders; values come from images
        assert not init[t.name].any()


def test_cnn_package_passes_flight_verify(cnn_dir):
    result = run("flight", "verify", cnn_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cnn 1.0.0: OK")


def test_cnn_flight_outputs_match_a_plain_session(cnn_source, cnn_package):
    stored = flight.open_model(cnn_package.directory)
    replica = flight.Replica(0, stored)
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = rng.standard_normal((1, 1, 16, 16)).astype(np.float32)
        (expected,) = plain_outputs(cnn_source, {"x": x})
        (got,) = replica.run_copy([x])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
        assert abs(float(got.sum()) - 1.0) < 1e-5  # softmax
    assert 0.0 <= cnn_package.max_diff_vs_plain < 1e-5
    assert stored.manifest.outputs[0].range == (0.0, 1.0)


def test_mlp_gemm_trans_b_matches_a_numpy_reference(mlp_source, mlp_dir):
    src = {t.name: numpy_helper.to_array(t) for t in onnx.load(mlp_source).graph.initializer}
    stored = flight.open_model(mlp_dir)
    assert stored.manifest.inputs[0].shape == (1, 8)  # symbolic batch fixed to 1
    replica = flight.Replica(0, stored)
    rng = np.random.default_rng(8)
    for _ in range(5):
        x = rng.standard_normal((1, 8)).astype(np.float32)
        hidden = np.maximum(x.astype(np.float64) @ src["w1"].T + src["b1"], 0)
        expected = hidden @ src["w2"].T + src["b2"]
        np.testing.assert_allclose(replica.run_copy([x])[0], expected, rtol=0, atol=1e-5)


def test_packaging_is_deterministic(mlp_source, tmp_path, folder_bytes):
    ground.package_model(mlp_source, tmp_path / "a", golden_count=3, seed=1)
    ground.package_model(mlp_source, tmp_path / "b", golden_count=3, seed=1)
    assert folder_bytes(tmp_path / "a") == folder_bytes(tmp_path / "b")


# --- golden inputs -------------------------------------------------------------------------------------


def test_golden_inputs_from_an_npz_file(mlp_source, tmp_path):
    rng = np.random.default_rng(9)
    obs = rng.standard_normal((5, 1, 8)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", obs=obs)
    out = tmp_path / "out"
    result = run("ground", "package", mlp_source, "-o", out, "--golden-inputs", tmp_path / "inputs.npz", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["golden_vectors"] == 5
    with np.load(out / "golden.npz") as golden:
        assert np.array_equal(golden["input:obs"], obs)
        stored = flight.open_model(out)
        replica = flight.Replica(0, stored)
        for i in range(5):
            assert replica.run_copy([obs[i]])[0].tobytes() == golden["output:logits"][i].tobytes()
    assert run("flight", "verify", out).returncode == 0


def test_golden_inputs_with_a_single_vector_under_the_golden_key(mlp_source, tmp_path):
    obs = np.random.default_rng(10).standard_normal((1, 8)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", **{"input:obs": obs})
    report = ground.package_model(mlp_source, tmp_path / "out", golden_inputs=tmp_path / "inputs.npz")
    assert report.golden_count == 1


def test_golden_inputs_of_the_wrong_shape_are_refused(mlp_source, tmp_path):
    np.savez(tmp_path / "inputs.npz", obs=np.zeros((3, 9), np.float32))
    with pytest.raises(ground.PackageError) as info:
        ground.package_model(mlp_source, tmp_path / "out", golden_inputs=tmp_path / "inputs.npz")
    assert str(info.value) == f"{tmp_path / 'inputs.npz'}: 'obs' has shape [3, 9], expected [N, 1, 8]"
    assert not (tmp_path / "out").exists()


def test_golden_inputs_with_nan_are_refused(mlp_source, tmp_path):
    obs = np.zeros((2, 1, 8), np.float32)
    obs[1, 0, 3] = np.nan
    np.savez(tmp_path / "inputs.npz", obs=obs)
    with pytest.raises(ground.PackageError) as info:
        ground.package_model(mlp_source, tmp_path / "out", golden_inputs=tmp_path / "inputs.npz")
    assert str(info.value) == f"{tmp_path / 'inputs.npz'}: 'obs' contains NaN or infinity"


# --- refusals, and output written only on success ---------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [
        (b"hello, this is not a model", "not a valid ONNX model"),
        (bytes(np.random.default_rng(11).integers(0, 256, 4096, dtype=np.uint8)), "not a valid ONNX model"),
        (b"", "invalid ONNX"),
    ],
)
def test_non_onnx_file_is_refused_in_one_line(tmp_path, content, message):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    out = tmp_path / "out"
    result = run("ground", "package", bad, "-o", out)
    assert_one_line_refusal(result, f"ground: error: {bad}: ", message)
    assert result.stdout == ""
    assert not out.exists()


def test_missing_source_is_refused_in_one_line(tmp_path):
    result = run("ground", "package", tmp_path / "none.onnx", "-o", tmp_path / "out")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"ground: error: argument model: {tmp_path / 'none.onnx'}: unreadable "
                                          "(no such file) (see ground package --help)"]
    assert not (tmp_path / "out").exists()


def test_failing_package_leaves_an_existing_output_folder_untouched(mlp_dir, mlp_source, tmp_path, model_copy,
                                                                     folder_bytes):
    out = model_copy(mlp_dir)  # a model folder the ground wrote: replaceable, but only by a package that passed
    before = folder_bytes(out)
    entries_before = sorted(p.name for p in out.parent.iterdir())
    work = tmp_path / "work"
    work.mkdir()
    bad = work / "bad.onnx"
    bad.write_bytes(b"garbage")
    assert run("ground", "package", bad, "-o", out).returncode == 1
    assert folder_bytes(out) == before
    np.savez(work / "inputs.npz", obs=np.zeros((2, 7), np.float32))  # fails late, after compiling
    result = run("ground", "package", mlp_source, "-o", out, "--golden-inputs", work / "inputs.npz")
    assert_one_line_refusal(result, "ground: error: ", "'obs' has shape [2, 7]")
    assert folder_bytes(out) == before
    assert sorted(p.name for p in out.parent.iterdir() if p != work) == entries_before  # no staging left


def test_successful_package_replaces_a_model_folder_it_wrote(mlp_source, tmp_path):
    out = tmp_path / "out"
    ground.package_model(mlp_source, out, golden_count=2, seed=1)
    first = (out / "golden.npz").read_bytes()
    ground.package_model(mlp_source, out, golden_count=2, seed=2)
    assert sorted(p.name for p in out.iterdir()) == ["golden.npz", "manifest.yaml", "model.onnx"]
    assert (out / "golden.npz").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or backup left


def test_unknown_optimization_level_is_refused(mlp_source, tmp_path):
    with pytest.raises(ground.PackageError) as info:
        ground.package_model(mlp_source, tmp_path / "out", level="all")
    assert str(info.value) == "--level must be one of basic, extended, got 'all'"
