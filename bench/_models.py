"""Models for the benchmarks: where they come from, packaged once for flight and cached.

Sources:
- committed model folders under `models/` (each subfolder with a manifest.yaml): lander-discrete,
  lander-continuous, hazard-cnn, ... used as they are;
- bench models from `models/build_bench_models.py` (`build(kind, size, seed)`), packaged with
  `ground.package_model` into `bench/out/models/` (git-ignored) and reused while the source bytes
  are unchanged.

The plain-onnxruntime baseline for a model is a default `InferenceSession` over model bytes with
the weights embedded: the source graph for models built here, `model.onnx` of a committed folder
(the ground-optimized graph, which carries its real weights).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto

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
    origin: str  # "committed" or "bench-builder"
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
    from flight import SeuguardError, load_manifest
    from ground import package_model

    data = model.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    folder = OUT / name
    stamp = OUT / f"{name}.source-sha256"
    try:  # a folder packaged by an older format (say, before manifests carried their CRC) is redone
        current = load_manifest(folder / "manifest.yaml") is not None
    except (SeuguardError, OSError):
        current = False
    if not current or not stamp.is_file() or stamp.read_text().strip() != digest:
        OUT.mkdir(parents=True, exist_ok=True)
        src = OUT / f"{name}.onnx"
        src.write_bytes(data)
        package_model(src, folder, name=name, golden_count=4, seed=SEED)
        stamp.write_text(digest + "\n")
    return BenchModel(name, folder, data, origin, _param_count(model))


def size_tag(size: float) -> str:
    exp = int(round(np.log10(size)))
    return f"1e{exp}" if 10 ** exp == size else f"{int(size)}"


def bench_model(kind: str, size: float) -> BenchModel:
    """bench-<kind>-<size> from models/build_bench_models.py, packaged once and cached."""
    if str(MODELS) not in sys.path:
        sys.path.insert(0, str(MODELS))
    import build_bench_models  # type: ignore[import-not-found]

    model = build_bench_models.build(kind, size, SEED)
    return _package_cached(f"bench-{kind}-{size_tag(size)}", model, "bench-builder")


def lander_models() -> list[BenchModel]:
    """The committed lander folders."""
    return [_committed(MODELS / n) for n in ("lander-discrete", "lander-continuous")]


def hazard_model() -> BenchModel:
    """The committed hazard CNN."""
    return _committed(MODELS / "hazard-cnn")
