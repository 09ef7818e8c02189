"""Shared fixtures: small ONNX models built with onnx.helper, packaged once per session by the ground.

- `mlp_source` / `mlp_dir`: obs [N, 8] -> Gemm(transB=1) -> Relu -> Gemm(transB=1) -> logits [N, 4].
- `cnn_source` / `cnn_dir`: x [1, 1, 16, 16] -> Conv -> BatchNormalization -> Relu -> MaxPool ->
  Reshape (int64 shape initializer) -> Gemm(transB=1) -> Softmax -> probs [1, 10].
- `big_mlp_dir`: a 256x256 float32 layer (256 KiB: four 64 KiB chunks);
  `big_mlp_small_chunks_dir`: the same model packaged with chunk_size=4096.
- `dead_source`: a model with one float tensor (`dead_bias`) whose value cannot reach the output
  (it is multiplied by a zero tensor).
- `model_copy`: copy a packaged folder into tmp_path so a test may corrupt it.

Every random value comes from a seeded numpy Generator; nothing uses the global random state.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ground

OPSET = [helper.make_opsetid("", 17)]


def _init(name: str, arr: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(arr), name)


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save_model(model, path)
    return path


def build_mlp(path: Path, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((16, 8)) * 0.5).astype(np.float32)
    b1 = (rng.standard_normal(16) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((4, 16)) * 0.5).astype(np.float32)
    b2 = (rng.standard_normal(4) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["obs", "w1", "b1"], ["h1"], transB=1),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])],
        [_init("w1", w1), _init("b1", b1), _init("w2", w2), _init("b2", b2)],
    )
    return _save(helper.make_model(graph, opset_imports=OPSET), path)


def build_cnn(path: Path, seed: int = 2) -> Path:
    rng = np.random.default_rng(seed)
    conv_w = (rng.standard_normal((4, 1, 3, 3)) * 0.4).astype(np.float32)
    conv_b = (rng.standard_normal(4) * 0.1).astype(np.float32)
    bn_scale = rng.uniform(0.5, 1.5, 4).astype(np.float32)
    bn_bias = (rng.standard_normal(4) * 0.1).astype(np.float32)
    bn_mean = (rng.standard_normal(4) * 0.1).astype(np.float32)
    bn_var = rng.uniform(0.5, 1.5, 4).astype(np.float32)
    shape = np.array([1, 256], dtype=np.int64)
    fc_w = (rng.standard_normal((10, 256)) * 0.1).astype(np.float32)
    fc_b = (rng.standard_normal(10) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["p", "flat_shape"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["fc"], transB=1),
        helper.make_node("Softmax", ["fc"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 16, 16])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])],
        [
            _init("conv_w", conv_w), _init("conv_b", conv_b), _init("bn_scale", bn_scale),
            _init("bn_bias", bn_bias), _init("bn_mean", bn_mean), _init("bn_var", bn_var),
            _init("flat_shape", shape), _init("fc_w", fc_w), _init("fc_b", fc_b),
        ],
    )
    return _save(helper.make_model(graph, opset_imports=OPSET), path)


def build_big_mlp(path: Path, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((256, 16)) / 4.0).astype(np.float32)
    b1 = (rng.standard_normal(256) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((256, 256)) / 16.0).astype(np.float32)  # 256 KiB
    b2 = (rng.standard_normal(256) * 0.1).astype(np.float32)
    w3 = (rng.standard_normal((4, 256)) / 16.0).astype(np.float32)
    b3 = (rng.standard_normal(4) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["obs", "w1", "b1"], ["h1"], transB=1),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], transB=1),
        helper.make_node("Relu", ["h2"], ["a2"]),
        helper.make_node("Gemm", ["a2", "w3", "b3"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "big_mlp",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])],
        [_init("w1", w1), _init("b1", b1), _init("w2", w2), _init("b2", b2), _init("w3", w3), _init("b3", b3)],
    )
    return _save(helper.make_model(graph, opset_imports=OPSET), path)


def build_dead_tensor_model(path: Path, seed: int = 4) -> Path:
    """out = main + (main + dead_bias) * zeros: no value of dead_bias (kept small so a flipped
    exponent stays finite) can reach the output."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((4, 8)) * 0.5).astype(np.float32)
    b = (rng.standard_normal(4) * 0.1).astype(np.float32)
    dead = rng.uniform(0.1, 0.5, 4).astype(np.float32)
    zeros = np.zeros(4, dtype=np.float32)
    nodes = [
        helper.make_node("Gemm", ["obs", "w", "b"], ["main"], transB=1),
        helper.make_node("Add", ["main", "dead_bias"], ["side"]),
        helper.make_node("Mul", ["side", "zeros"], ["nothing"]),
        helper.make_node("Add", ["main", "nothing"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "dead",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])],
        [_init("w", w), _init("b", b), _init("dead_bias", dead), _init("zeros", zeros)],
    )
    return _save(helper.make_model(graph, opset_imports=OPSET), path)


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sources")
    build_mlp(d / "mlp.onnx")
    build_cnn(d / "cnn.onnx")
    build_big_mlp(d / "big_mlp.onnx")
    build_dead_tensor_model(d / "dead.onnx")
    return d


@pytest.fixture(scope="session")
def mlp_source(sources) -> Path:
    return sources / "mlp.onnx"


@pytest.fixture(scope="session")
def cnn_source(sources) -> Path:
    return sources / "cnn.onnx"


@pytest.fixture(scope="session")
def dead_source(sources) -> Path:
    return sources / "dead.onnx"


@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("packaged")


@pytest.fixture(scope="session")
def mlp_dir(sources, packaged) -> Path:
    out = packaged / "mlp"
    ground.package_model(sources / "mlp.onnx", out, name="mlp", golden_count=8, seed=11)
    return out


@pytest.fixture(scope="session")
def cnn_package(sources, packaged):
    out = packaged / "cnn"
    return ground.package_model(
        sources / "cnn.onnx", out, name="cnn", golden_count=4, seed=12, output_ranges={"probs": (0.0, 1.0)}
    )


@pytest.fixture(scope="session")
def cnn_dir(cnn_package) -> Path:
    return cnn_package.directory


@pytest.fixture(scope="session")
def big_mlp_dir(sources, packaged) -> Path:
    out = packaged / "big_mlp"
    ground.package_model(sources / "big_mlp.onnx", out, name="big_mlp", golden_count=4, seed=13)
    return out


@pytest.fixture(scope="session")
def big_mlp_small_chunks_dir(sources, packaged) -> Path:
    out = packaged / "big_mlp_4k"
    ground.package_model(sources / "big_mlp.onnx", out, name="big_mlp", golden_count=4, seed=13, chunk_size=4096)
    return out


@pytest.fixture
def model_copy(tmp_path):
    """Copy a packaged model folder into this test's tmp_path: `model_copy(src) -> Path`."""

    def copy(src: Path) -> Path:
        dst = tmp_path / Path(src).name
        shutil.copytree(src, dst)
        return dst

    return copy


def _folder_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir()) if p.is_file()}


@pytest.fixture
def folder_bytes():
    """`folder_bytes(dir) -> {name: bytes}`: to prove a refusal changed nothing stored."""
    return _folder_bytes
