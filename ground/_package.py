"""`ground package`: make any ONNX model flight-ready.

The ground does what the flight must not: it runs onnxruntime's graph optimizer offline (fusions
such as Conv+BatchNormalization are baked into the graph that flies, because an optimizer running
onboard would compute from hidden fused copies the scrubber cannot see). Then, under the exact flight
configuration, it proves which tensors are live, computes the golden outputs, and writes the model
folder with the reference CRCs that the flight trusts and nothing else.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

from flight import (
    DEFAULT_CHUNK_SIZE,
    FLIGHT_SESSION_CONFIG,
    GoldenRecord,
    IOSpec,
    Manifest,
    Replica,
    TensorRecord,
    check_golden,
    crc32c,
    dump_manifest,
    golden_key,
    golden_outputs_digest,
    open_model,
    prove_liveness,
    sha256_file,
)
from flight._errors import SeuguardError
from flight.storage import chunk_crcs, replace_folder

LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}
# Tolerance of the flight configuration against a plain default session. The flight runs the same
# arithmetic in a different order, so tiny differences are expected; a large one means a setup
# mistake (for example placeholders read by an optimizer) and the package is refused.
PLAIN_SESSION_TOLERANCE = 1e-3


class PackageError(SeuguardError):
    """The model cannot be packaged; the message says why."""


@dataclass(frozen=True)
class PackageReport:
    directory: Path
    parameters: int
    live: tuple[str, ...]
    not_live: tuple[str, ...]
    embedded: tuple[str, ...]  # non-float initializers: shapes and axes, checked at load only
    max_diff_vs_plain: float
    golden_count: int


def save_npz_deterministic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez with fixed zip timestamps, so the same arrays give the same bytes and sha256."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


def _np_dtype(elem_type: int) -> str:
    return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type))


def _fix_batch_dims(model: onnx.ModelProto) -> None:
    """Flight computes with one fixed shape (batch 1): symbolic input dims become 1."""
    init = {t.name for t in model.graph.initializer}
    for v in model.graph.input:
        if v.name in init:
            continue
        for d in v.type.tensor_type.shape.dim:
            if not d.HasField("dim_value") or d.dim_value <= 0:
                d.Clear()
                d.dim_value = 1


def _optimize_offline(model: onnx.ModelProto, level: str, workdir: Path) -> onnx.ModelProto:
    src = workdir / "source.onnx"
    dst = workdir / "optimized.onnx"
    onnx.save_model(model, src)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = LEVELS[level]
    opts.optimized_model_filepath = str(dst)
    opts.log_severity_level = 3
    try:
        ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise PackageError(f"onnxruntime refused the model: {str(exc).strip().splitlines()[0][:200]}") from None
    optimized = onnx.load_model(dst)
    # Drop initializers the optimizer left unused: they would be unchecked dead weight.
    used = {name for node in optimized.graph.node for name in node.input}
    keep = [t for t in optimized.graph.initializer if t.name in used]
    del optimized.graph.initializer[:]
    optimized.graph.initializer.extend(keep)
    return optimized


def _io_specs(model: onnx.ModelProto, kind: str, ranges: dict[str, tuple[float, float]]) -> list[IOSpec]:
    init = {t.name for t in model.graph.initializer}
    values = model.graph.input if kind == "input" else model.graph.output
    specs = []
    for v in values:
        if v.name in init:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim]
        specs.append(IOSpec(v.name, _np_dtype(v.type.tensor_type.elem_type), tuple(dims), ranges.get(v.name)))
    return specs


def _tensor_record(name: str, arr: np.ndarray, chunk_size: int, live: bool) -> TensorRecord:
    raw = np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
    return TensorRecord(name, str(arr.dtype), tuple(arr.shape), int(raw.nbytes), crc32c(raw),
                        chunk_crcs(raw, chunk_size), live)


def _golden_inputs(specs: list[IOSpec], path: Path | None, count: int, seed: int) -> list[np.ndarray]:
    if path is not None:
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise PackageError(f"{path}: unreadable golden inputs ({exc.__class__.__name__})") from None
        arrays = []
        for spec in specs:
            arr = data.get(spec.name, data.get(golden_key("input", spec.name)))
            if arr is None:
                raise PackageError(f"{path}: no array named '{spec.name}'")
            if tuple(arr.shape) == spec.shape:
                arr = arr[None]
            if tuple(arr.shape[1:]) != spec.shape:
                raise PackageError(f"{path}: '{spec.name}' has shape {list(arr.shape)}, expected [N, {', '.join(map(str, spec.shape))}]")
            arr = arr.astype(spec.dtype)
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise PackageError(f"{path}: '{spec.name}' contains NaN or infinity")
            arrays.append(arr)
        if len({a.shape[0] for a in arrays}) != 1:
            raise PackageError(f"{path}: inputs have different counts of vectors")
        return arrays
    if count <= 0:
        raise PackageError(f"--golden must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in specs:
        if spec.dtype.startswith("float"):
            if spec.range is not None:
                arr = rng.uniform(spec.range[0], spec.range[1], size=(count, *spec.shape))
            else:
                arr = rng.standard_normal((count, *spec.shape))
        else:
            raise PackageError(f"input {spec.name} is {spec.dtype}: give golden inputs with --golden-inputs")
        arrays.append(arr.astype(spec.dtype))
    return arrays


def package_model(
    source: Path,
    out_dir: Path,
    name: str | None = None,
    version: str = "1.0.0",
    sequence: int = 1,
    golden_inputs: Path | None = None,
    golden_count: int = 16,
    seed: int = 0,
    level: str = "extended",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    input_ranges: dict[str, tuple[float, float]] | None = None,
    output_ranges: dict[str, tuple[float, float]] | None = None,
    world: str | None = None,
    notes: dict[str, Any] | None = None,
) -> PackageReport:
    """Compile, reference and self-test a model; write `out_dir` only when all of it passed.

    The stages, in order: load and validate the source; compile it offline; reference outputs from a
    plain session; build the manifest records and settle which tensors are live (a proof under the
    flight configuration); check the flight against the plain session; golden vectors; the
    flight's own self-test; the atomic write."""
    source, out_dir = Path(source), Path(out_dir)
    if level not in LEVELS:
        raise PackageError(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    model = _load_source(source)
    with tempfile.TemporaryDirectory(prefix="seuguard-package-") as tmp:
        work = Path(tmp)
        compiled = _compile(model, level, work, input_ranges or {})
        golden_in = _golden_inputs(compiled.inputs, golden_inputs, golden_count, seed)
        outputs, plain_out = _plain_reference(model, compiled.inputs, golden_in, output_ranges or {})
        manifest = Manifest(
            name=name or source.stem,
            version=str(version),
            sequence=sequence,
            model_file="model.onnx",
            model_sha256=hashlib.sha256(compiled.model_bytes).hexdigest(),
            session=dict(FLIGHT_SESSION_CONFIG),
            inputs=tuple(compiled.inputs),
            outputs=tuple(outputs),
            chunk_size=chunk_size,
            tensors=(),
            golden=GoldenRecord("golden.npz", golden_in[0].shape[0], "", ""),
            world=world,
            notes=dict(notes or {}),
        )
        folder = work / "candidate"
        manifest, golden_out, not_live = _settle_liveness(folder, manifest, compiled, golden_in)
        max_diff = _check_against_plain(golden_out, plain_out)
        manifest = _write_golden(folder, manifest, compiled.inputs, golden_in, golden_out, level, max_diff, not_live)
        _self_test(folder)
        replace_folder(out_dir, {f: folder / f for f in PACKAGE_FILES})
    arrays = compiled.arrays
    params = sum(int(a.size) for a in arrays.values() if a.dtype.kind == "f")
    embedded = tuple(sorted(n for n, a in arrays.items() if a.dtype.kind != "f"))
    live = tuple(sorted(t.name for t in manifest.tensors if t.live))
    return PackageReport(out_dir, params, live, tuple(sorted(not_live)), embedded, max_diff, manifest.golden.count)


PACKAGE_FILES = ("model.onnx", "golden.npz", "manifest.yaml")


@dataclass(frozen=True)
class _Compiled:
    """The graph that flies: optimized offline, with its inputs and initializer values."""

    model_bytes: bytes
    inputs: list[IOSpec]
    arrays: dict[str, np.ndarray]


def _load_source(source: Path) -> onnx.ModelProto:
    """Stage 1: read and check the source model; fix its batch dimension to 1."""
    try:
        model = onnx.load_model(source)
    except FileNotFoundError:
        raise PackageError(f"{source}: no such file") from None
    except Exception:
        raise PackageError(f"{source}: not a valid ONNX model") from None
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise PackageError(f"{source}: invalid ONNX: {str(exc).strip().splitlines()[0][:200]}") from None
    _fix_batch_dims(model)
    return model


def _compile(model: onnx.ModelProto, level: str, work: Path, input_ranges: dict[str, tuple[float, float]]) -> _Compiled:
    """Stage 2: onnxruntime's optimizer offline; every input must have a fixed shape."""
    optimized = _optimize_offline(model, level, work)
    inputs = _io_specs(optimized, "input", input_ranges)
    for spec in inputs:
        if 0 in spec.shape:
            raise PackageError(f"input {spec.name}: shape {list(spec.shape)} is not fixed")
    arrays = {t.name: numpy_helper.to_array(t) for t in optimized.graph.initializer}
    return _Compiled(optimized.SerializeToString(), inputs, arrays)


def _plain_reference(model: onnx.ModelProto, inputs: list[IOSpec], golden_in: list[np.ndarray],
                     output_ranges: dict[str, tuple[float, float]]) -> tuple[list[IOSpec], list[list[np.ndarray]]]:
    """Stage 3: a plain default session on the original graph (weights embedded): the output specs,
    and the outputs the flight configuration is compared with."""
    plain = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out_names = [o.name for o in plain.get_outputs()]
    count = golden_in[0].shape[0]
    plain_out = [plain.run(out_names, {s.name: a[i] for s, a in zip(inputs, golden_in)}) for i in range(count)]
    outputs = [
        IOSpec(n, str(plain_out[0][k].dtype), tuple(plain_out[0][k].shape), output_ranges.get(n))
        for k, n in enumerate(out_names)
    ]
    return outputs, plain_out


def _settle_liveness(folder: Path, manifest: Manifest, compiled: _Compiled, golden_in: list[np.ndarray]):
    """Stage 4: manifest records, and the proof of which float tensors are live under the flight
    configuration. A tensor found not live is recorded as such and the proof re-run (at most three
    rounds). Returns the manifest (golden digests still empty), the flight's outputs, the dead set."""
    live = {n for n, a in compiled.arrays.items() if a.dtype.kind == "f" and a.size > 0}
    not_live: set[str] = set()
    for _round in range(3):
        records = tuple(_tensor_record(n, a, manifest.chunk_size, n in live) for n, a in compiled.arrays.items())
        manifest = replace(manifest, tensors=records)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        (folder / "model.onnx").write_bytes(compiled.model_bytes)
        # Golden outputs under the flight configuration, from a replica built the flight's way.
        flight_out, replica = _flight_outputs(folder, manifest, golden_in)
        newly_dead = set(prove_liveness(replica, [a[0] for a in golden_in]).not_live)
        if not newly_dead:
            return manifest, flight_out, not_live
        not_live |= newly_dead
        live -= newly_dead
    raise PackageError(f"liveness did not settle; tensors not live: {sorted(not_live)}")


def _check_against_plain(golden_out: list[list[np.ndarray]], plain_out: list[list[np.ndarray]]) -> float:
    """Stage 5: the flight configuration must agree with a plain session; return the largest |diff|."""
    max_diff = max(
        float(np.max(np.abs(g.astype(np.float64) - p.astype(np.float64)))) if g.size else 0.0
        for gv, pv in zip(golden_out, plain_out)
        for g, p in zip(gv, pv)
    )
    if not np.isfinite(max_diff) or max_diff > PLAIN_SESSION_TOLERANCE * max(
        1.0, max(float(np.max(np.abs(p))) for pv in plain_out for p in pv)
    ):
        raise PackageError(f"flight configuration disagrees with a plain session by {max_diff:.3g}")
    return max_diff


def _write_golden(folder: Path, manifest: Manifest, inputs: list[IOSpec], golden_in: list[np.ndarray],
                  golden_out: list[list[np.ndarray]], level: str, max_diff: float, not_live: set[str]) -> Manifest:
    """Stage 6: golden.npz (deterministic bytes) and the final manifest naming its digests."""
    golden = {golden_key("input", s.name): a for s, a in zip(inputs, golden_in)}
    for k, spec in enumerate(manifest.outputs):
        golden[golden_key("output", spec.name)] = np.stack([gv[k] for gv in golden_out])
    save_npz_deterministic(folder / "golden.npz", golden)
    manifest = replace(
        manifest,
        golden=GoldenRecord("golden.npz", manifest.golden.count, sha256_file(folder / "golden.npz"),
                            golden_outputs_digest(golden_out)),
        notes={
            **manifest.notes,
            "optimization_level": level,
            "max_abs_diff_vs_plain_session": float(f"{max_diff:.3g}"),
            "not_live": sorted(not_live),
        },
    )
    dump_manifest(manifest, folder / "manifest.yaml")
    return manifest


def _self_test(folder: Path) -> None:
    """Stage 7: exactly what the flight will do: full verification and the golden run."""
    check_golden(Replica(0, open_model(folder)))


def _flight_outputs(folder: Path, manifest: Manifest, golden_in: list[np.ndarray]) -> tuple[list, Replica]:
    """Golden outputs from one replica built the flight's way, and that replica (for the proof)."""
    dump_manifest(manifest, folder / "manifest.yaml")
    replica = Replica(0, open_model(folder, golden=False))
    count = golden_in[0].shape[0]
    return [replica.run_copy([a[i] for a in golden_in]) for i in range(count)], replica
