"""Models for the benchmarks: where they come from, packaged once for flight and cached.

Sources, in order of preference:
- committed model folders under `models/` (each subfolder with a manifest.yaml): lander-discrete,
  lander-continuous, hazard-cnn, ... used as they are;
- bench models from `models/build_bench_models.py` (`build(kind, size, seed)`), packaged with
  `ground.package_model` into `bench/out/models/` (git-ignored) and reused while the source bytes
  are unchanged;
- if that builder is missing or broken, a small generator here (seeded numpy weights, onnx.helper
  graphs) with the same shapes;
- a "lander-like" 8 -> 64 -> 64 -> 4 MLP with random weights stands in for the landers until the
  real folders exist (the output says so).

The plain-onnxruntime baseline for a model is a default `InferenceSession` over model bytes with
the weights embedded: the source graph for models built here, `model.onnx` of a committed folder
(the ground-optimized graph, which carries its real weights).
"""

from __future__ import annotations

import hashlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MODELS = REPO / "models"
OUT = REPO / "bench" / "out" / "models"
SEED = 0


@dataclass
class BenchModel:
    name: str
    folder: Path  # packaged flight folder (manifest.yaml, model.onnx, golden.npz)
    plain_bytes: bytes  # model with weights embedded, for the plain-onnxruntime baseline
    origin: str  # "committed", "bench-builder", "bench-fallback", "stand-in"
    parameters: int


def committed_folders() -> list[Path]:
    """Every committed model folder: a subfolder of models/ holding a manifest.yaml."""
    return sorted(p.parent for p in MODELS.glob("*/manifest.yaml"))


def _param_count(model: onnx.ModelProto) -> int:
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT)


def _committed(folder: Path) -> BenchModel:
    from flight import load_manifest

    manifest = load_manifest(folder / "manifest.yaml")
    data = (folder / manifest.model_file).read_bytes()
    params = _param_count(onnx.load_model_from_string(data))
    return BenchModel(manifest.name, folder, data, "committed", params)


def _package_cached(name: str, model: onnx.ModelProto, origin: str) -> BenchModel:
    """Package `model` for flight into bench/out/models/<name>, unless already done for these bytes."""
    from ground import package_model

    data = model.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    folder = OUT / name
    stamp = OUT / f"{name}.source-sha256"
    if not (folder / "manifest.yaml").is_file() or not stamp.is_file() or stamp.read_text().strip() != digest:
        OUT.mkdir(parents=True, exist_ok=True)
        src = OUT / f"{name}.onnx"
        src.write_bytes(data)
        package_model(src, folder, name=name, golden_count=4, seed=SEED)
        stamp.write_text(digest + "\n")
    return BenchModel(name, folder, data, origin, _param_count(model))


# ---- fallback generator (used only when models/build_bench_models.py is missing or broken) ----

def _fallback_mlp(sizes: list[int], rng: np.random.Generator, name: str, in_name: str = "x") -> onnx.ModelProto:
    nodes, inits, cur = [], [], in_name
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        w = (rng.standard_normal((b, a), dtype=np.float32) * np.float32(np.sqrt(2.0 / a)))
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"),
                  numpy_helper.from_array(np.zeros(b, np.float32), f"fc{i}.bias")]
        last = i == len(sizes) - 1
        out = "out" if last else f"fc{i}.out"
        nodes.append(helper.make_node("Gemm", [cur, f"fc{i}.weight", f"fc{i}.bias"], [out], transB=1))
        if not last:
            cur = f"relu{i}.out"
            nodes.append(helper.make_node("Relu", [out], [cur]))
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, [1, sizes[0]])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, sizes[-1]])],
                              initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _fallback_cnn(c: int, rng: np.random.Generator, name: str) -> onnx.ModelProto:
    chans = [3, c, 2 * c, 4 * c, 8 * c]
    nodes, inits, cur = [], [], "image"
    for i, (a, b) in enumerate(zip(chans[:-1], chans[1:]), start=1):
        w = rng.standard_normal((b, a, 3, 3), dtype=np.float32) * np.float32(np.sqrt(2.0 / (9 * a)))
        inits.append(numpy_helper.from_array(w, f"conv{i}.weight"))
        bn = [rng.uniform(0.8, 1.2, b), rng.normal(0, 0.05, b), rng.normal(0, 0.05, b), rng.uniform(0.8, 1.2, b)]
        inits += [numpy_helper.from_array(v.astype(np.float32), f"bn{i}.{k}") for k, v in enumerate(bn)]
        nodes += [helper.make_node("Conv", [cur, f"conv{i}.weight"], [f"c{i}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  helper.make_node("BatchNormalization", [f"c{i}"] + [f"bn{i}.{k}" for k in range(4)], [f"b{i}"]),
                  helper.make_node("Relu", [f"b{i}"], [f"r{i}"]),
                  helper.make_node("MaxPool", [f"r{i}"], [f"p{i}"], kernel_shape=[2, 2], strides=[2, 2])]
        cur = f"p{i}"
    flat = chans[-1] * 16
    inits += [numpy_helper.from_array(np.array([1, flat], np.int64), "shape"),
              numpy_helper.from_array(rng.standard_normal((10, flat), dtype=np.float32) * np.float32(0.1 / np.sqrt(flat)), "fc.weight"),
              numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias")]
    nodes += [helper.make_node("Reshape", [cur, "shape"], ["flat"]),
              helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["out"], transB=1)]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 10])], initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _fallback_build(kind: str, size: float, seed: int) -> onnx.ModelProto:
    rng = np.random.default_rng([seed, 0 if kind == "mlp" else 1, int(np.log10(size) * 1000)])
    if kind == "mlp":
        count = lambda w: 256 * w + w + 2 * (w * w + w) + 10 * w + 10  # noqa: E731
        w = min(range(1, 4096), key=lambda w: abs(count(w) - size))
        return _fallback_mlp([256, w, w, w, 10], rng, f"bench-mlp-{size:.0e}")
    count = lambda c: sum(9 * a * b + 4 * b for a, b in zip([3, c, 2 * c, 4 * c], [c, 2 * c, 4 * c, 8 * c])) + 8 * c * 160 + 10  # noqa: E731
    c = min(range(1, 1024), key=lambda c: abs(count(c) - size))
    return _fallback_cnn(c, rng, f"bench-cnn-{size:.0e}")


def size_tag(size: float) -> str:
    exp = int(round(np.log10(size)))
    return f"1e{exp}" if 10 ** exp == size else f"{int(size)}"


def bench_model(kind: str, size: float) -> BenchModel:
    """bench-<kind>-<size>: from models/build_bench_models.py if it works, else the fallback here."""
    name = f"bench-{kind}-{size_tag(size)}"
    origin = "bench-builder"
    try:
        if str(MODELS) not in sys.path:
            sys.path.insert(0, str(MODELS))
        import build_bench_models  # type: ignore[import-not-found]

        model = build_bench_models.build(kind, size, SEED)
    except Exception as exc:  # missing or broken: say so, and carry on with our own
        warnings.warn(f"models/build_bench_models.py unusable ({exc.__class__.__name__}: {exc}); using bench fallback")
        model = _fallback_build(kind, size, SEED)
        origin = "bench-fallback"
    return _package_cached(name, model, origin)


def lander_models() -> list[BenchModel]:
    """The real lander folders when committed, else one lander-like stand-in (8 -> 64 -> 64 -> 4 MLP)."""
    real = [MODELS / n for n in ("lander-discrete", "lander-continuous") if (MODELS / n / "manifest.yaml").is_file()]
    if real:
        return [_committed(f) for f in real]
    rng = np.random.default_rng([SEED, 8, 64, 64, 4])
    m = _fallback_mlp([8, 64, 64, 4], rng, "lander-like", in_name="obs")
    return [_package_cached("lander-like", m, "stand-in")]


def hazard_model() -> BenchModel:
    """The committed hazard CNN, else a stand-in with its shape (1x32x32 -> 8 -> 16 conv -> 4)."""
    folder = MODELS / "hazard-cnn"
    if (folder / "manifest.yaml").is_file():
        return _committed(folder)
    rng = np.random.default_rng([SEED, 32, 32])
    nodes, inits, cur = [], [], "image"
    for i, (a, b) in enumerate([(1, 8), (8, 16)], start=1):
        w = rng.standard_normal((b, a, 3, 3), dtype=np.float32) * np.float32(np.sqrt(2.0 / (9 * a)))
        inits.append(numpy_helper.from_array(w, f"conv{i}.weight"))
        bn = [rng.uniform(0.8, 1.2, b), rng.normal(0, 0.05, b), rng.normal(0, 0.05, b), rng.uniform(0.8, 1.2, b)]
        inits += [numpy_helper.from_array(v.astype(np.float32), f"bn{i}.{k}") for k, v in enumerate(bn)]
        nodes += [helper.make_node("Conv", [cur, f"conv{i}.weight"], [f"c{i}"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  helper.make_node("BatchNormalization", [f"c{i}"] + [f"bn{i}.{k}" for k in range(4)], [f"b{i}"]),
                  helper.make_node("Relu", [f"b{i}"], [f"r{i}"]),
                  helper.make_node("MaxPool", [f"r{i}"], [f"p{i}"], kernel_shape=[2, 2], strides=[2, 2])]
        cur = f"p{i}"
    inits += [numpy_helper.from_array(np.array([1, 1024], np.int64), "shape"),
              numpy_helper.from_array(rng.standard_normal((4, 1024), dtype=np.float32) * np.float32(0.03), "fc.weight"),
              numpy_helper.from_array(np.zeros(4, np.float32), "fc.bias")]
    nodes += [helper.make_node("Reshape", [cur, "shape"], ["flat"]),
              helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], transB=1),
              helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    graph = helper.make_graph(nodes, "hazard-like", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 32, 32])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 4])], initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return _package_cached("hazard-like", m, "stand-in")
