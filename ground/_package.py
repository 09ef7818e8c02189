"""`ground package`: make any ONNX model flight-ready.

The ground does what the flight must not: it runs onnxruntime's graph optimizer offline (fusions
such as Conv+BatchNormalization are baked into the graph that flies, because an optimizer running
onboard would compute from hidden fused copies the scrubber cannot see). Then, under the exact flight
configuration, it proves which tensors are live, computes the golden outputs, and writes the model
folder with the reference CRCs that the flight trusts and nothing else.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

import yaml

from flight import (
    DEFAULT_CHUNK_SIZE,
    FLIGHT_SESSION_CONFIG,
    GoldenRecord,
    ImageLayout,
    IOSpec,
    Manifest,
    Replica,
    TensorRecord,
    WeightImage,
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
from flight._world import registered_worlds
from flight.storage._manifest import FORMAT

LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}
# Tolerance of the flight configuration against a plain default session. The flight runs the same
# arithmetic in a different order, so tiny differences are expected; a large one means a setup
# mistake (for example placeholders read by an optimizer) and the package is refused.
PLAIN_SESSION_TOLERANCE = 1e-3
# Packaging holds a few copies of the weights at its peak (onnxruntime's optimizer, one replica);
# models over this size are refused before anything is loaded (`--max-bytes`).
DEFAULT_MAX_BYTES = 2 * 2**30


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
    """Flight computes with one fixed shape (batch 1): a symbolic first dimension becomes 1. Any
    other symbolic dimension is refused, named: fixing it to 1 would silently change the model."""
    init = {t.name for t in model.graph.initializer}
    for v in model.graph.input:
        if v.name in init:
            continue
        dims = v.type.tensor_type.shape.dim
        symbolic = [
            f"{i} ({d.dim_param!r})" if d.dim_param else str(i)
            for i, d in enumerate(dims)
            if i > 0 and (not d.HasField("dim_value") or d.dim_value <= 0)
        ]
        if symbolic:
            raise PackageError(
                f"input {v.name}: dimension{'s' if len(symbolic) > 1 else ''} {', '.join(symbolic)} "
                "not fixed; only the batch dimension (the first) is set to 1: export the model with fixed shapes")
        if dims and (not dims[0].HasField("dim_value") or dims[0].dim_value <= 0):
            dims[0].Clear()
            dims[0].dim_value = 1


def check_output_folder(out_dir: Path) -> None:
    """`-o DIR` replaces DIR only when it is a model folder the ground wrote: nothing but the
    package's files, with a manifest.yaml of our format. Anything else is refused (never deleted)."""
    out_dir = Path(out_dir)
    try:
        resolved = out_dir.resolve()
    except OSError as exc:
        raise PackageError(f"{out_dir}: unusable as the output folder ({exc.strerror})") from None
    if resolved == Path(resolved.anchor) or resolved == Path.cwd() or resolved in Path.cwd().parents:
        raise PackageError(f"{out_dir}: refusing to replace the current folder or one above it; name a new folder")
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if out_dir.is_symlink() or not out_dir.is_dir():
        raise PackageError(f"{out_dir}: exists and is not a folder; refusing to replace it")
    if not any(out_dir.iterdir()):
        return  # an empty folder holds nothing to lose
    others = sorted(p.name for p in out_dir.iterdir() if p.name not in PACKAGE_FILES)
    if others:
        raise PackageError(f"{out_dir}: not a model folder written by `ground package` (holds {others[0]!r}); "
                           "refusing to replace it")
    try:
        data = yaml.safe_load((out_dir / "manifest.yaml").read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PackageError(f"{out_dir}: not a model folder written by `ground package` (no {FORMAT} manifest); "
                           "refusing to replace it")


def check_source_size(source: Path, max_bytes: int) -> int:
    """The source's size, refused over `max_bytes` before anything is loaded."""
    try:
        size = os.stat(source).st_size
    except FileNotFoundError:
        raise PackageError(f"{source}: no such file") from None
    except OSError as exc:
        raise PackageError(f"{source}: unreadable ({exc.strerror})") from None
    if size > max_bytes:
        raise PackageError(f"{source}: {size / 2**20:.0f} MiB is over the --max-bytes limit of "
                           f"{max_bytes / 2**20:.0f} MiB (packaging needs a few times the model in memory)")
    return size


def _optimize_offline(src: Path, level: str, workdir: Path) -> onnx.ModelProto:
    dst = workdir / "optimized.onnx"
    opts = ort.SessionOptions()
    opts.graph_optimization_level = LEVELS[level]
    opts.optimized_model_filepath = str(dst)
    opts.log_severity_level = 3
    try:
        ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise PackageError(f"onnxruntime refused the model: {str(exc).strip().splitlines()[0][:200]}") from None
    optimized = onnx.load_model(dst)
    dst.unlink()
    # Drop initializers the optimizer left unused: they would be unchecked dead weight.
    used = {name for node in optimized.graph.node for name in node.input}
    for i in reversed(range(len(optimized.graph.initializer))):  # in place: no copy of the weights
        if optimized.graph.initializer[i].name not in used:
            del optimized.graph.initializer[i]
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
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> PackageReport:
    """Compile, reference and self-test a model; write `out_dir` only when all of it passed.

    The stages, in order: refuse an output folder that is not ours and a source over `max_bytes`;
    load and validate the source; compile it offline; reference outputs from a plain session; build
    the manifest records and settle which tensors are live (a proof under the flight
    configuration); check the flight against the plain session; golden vectors; the flight's own
    self-test; the atomic write.

    Memory: the weights live on disk between stages; at most one stage's copies (an onnxruntime
    session, or one replica) are held at a time (bench/bench_package_memory.py)."""
    source, out_dir = Path(source), Path(out_dir)
    if level not in LEVELS:
        raise PackageError(f"--level must be one of {', '.join(LEVELS)}, got {level!r}")
    if chunk_size <= 0 or chunk_size % 64:
        raise PackageError(f"--chunk-size must be a positive multiple of 64, got {chunk_size}")
    if world is not None and world not in registered_worlds():
        known = ", ".join(sorted(registered_worlds())) or "none"
        raise PackageError(f"world {world!r} is not registered (registered worlds: {known})")
    check_output_folder(out_dir)
    check_source_size(source, max_bytes)
    with tempfile.TemporaryDirectory(prefix="seuguard-package-") as tmp:
        work = Path(tmp)
        folder = work / "candidate"
        folder.mkdir()
        src = _load_source(source, work)
        compiled = _compile(src, level, work, input_ranges or {}, chunk_size, folder / "model.onnx")
        golden_in = _golden_inputs(compiled.inputs, golden_inputs, golden_count, seed)
        outputs, plain_out = _plain_reference(src, compiled.inputs, golden_in, output_ranges or {})
        src.unlink()
        manifest = Manifest(
            name=name or source.stem,
            version=str(version),
            sequence=sequence,
            model_file="model.onnx",
            model_sha256=compiled.sha256,
            session=dict(FLIGHT_SESSION_CONFIG),
            inputs=tuple(compiled.inputs),
            outputs=tuple(outputs),
            chunk_size=chunk_size,
            tensors=(),
            golden=GoldenRecord("golden.npz", golden_in[0].shape[0], "", ""),
            world=world,
            notes=dict(notes or {}),
        )
        manifest, golden_out, not_live = _settle_liveness(folder, manifest, compiled, golden_in)
        max_diff = _check_against_plain(golden_out, plain_out)
        manifest = _write_golden(folder, manifest, compiled.inputs, golden_in, golden_out, level, max_diff, not_live)
        _self_test(folder)
        check_output_folder(out_dir)  # again: it may have changed while we worked
        replace_folder(out_dir, {f: folder / f for f in PACKAGE_FILES})
    live = tuple(sorted(t.name for t in manifest.tensors if t.live))
    return PackageReport(out_dir, compiled.parameters, live, tuple(sorted(not_live)), compiled.embedded, max_diff,
                         manifest.golden.count)


PACKAGE_FILES = ("model.onnx", "golden.npz", "manifest.yaml")


@dataclass(frozen=True)
class _Compiled:
    """The graph that flies, written to the candidate folder: its digest, inputs and tensor records
    (every float tensor marked live until the proof says otherwise). No weights are held."""

    sha256: str
    inputs: list[IOSpec]
    records: tuple[TensorRecord, ...]
    parameters: int  # float elements
    embedded: tuple[str, ...]  # non-float initializers: shapes and axes, checked at load only


def _load_source(source: Path, work: Path) -> Path:
    """Stage 1: read and check the source model; fix its batch dimension to 1; write it to `work`
    for the next stages (nothing of it stays in memory)."""
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
    path = work / "source.onnx"
    onnx.save_model(model, path)
    return path


def _compile(src: Path, level: str, work: Path, input_ranges: dict[str, tuple[float, float]], chunk_size: int,
             dest: Path) -> _Compiled:
    """Stage 2: onnxruntime's optimizer offline; every input must have a fixed shape. The graph
    that flies is written to `dest`; its tensors are referenced one at a time."""
    optimized = _optimize_offline(src, level, work)
    inputs = _io_specs(optimized, "input", input_ranges)
    for spec in inputs:
        if 0 in spec.shape:
            raise PackageError(f"input {spec.name}: shape {list(spec.shape)} is not fixed")
    records, parameters, embedded = [], 0, []
    for t in optimized.graph.initializer:
        arr = numpy_helper.to_array(t)
        floating = arr.dtype.kind == "f"
        records.append(_tensor_record(t.name, arr, chunk_size, floating and arr.size > 0))
        parameters += int(arr.size) if floating else 0
        if not floating:
            embedded.append(t.name)
        del arr
    onnx.save_model(optimized, dest)
    del optimized
    return _Compiled(sha256_file(dest), inputs, tuple(records), parameters, tuple(sorted(embedded)))


def _plain_reference(src: Path, inputs: list[IOSpec], golden_in: list[np.ndarray],
                     output_ranges: dict[str, tuple[float, float]]) -> tuple[list[IOSpec], list[list[np.ndarray]]]:
    """Stage 3: a plain default session on the original graph (weights embedded): the output specs,
    and the outputs the flight configuration is compared with. The session is dropped on return."""
    plain = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"])
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
    live = {r.name for r in compiled.records if r.live}
    not_live: set[str] = set()
    for _round in range(3):
        manifest = replace(manifest, tensors=tuple(replace(r, live=r.name in live) for r in compiled.records))
        # Golden outputs under the flight configuration, from a replica built the flight's way.
        dump_manifest(manifest, folder / "manifest.yaml")
        replica = _lean_replica(folder, golden=False)
        count = golden_in[0].shape[0]
        flight_out = [replica.run_copy([a[i] for a in golden_in]) for i in range(count)]
        newly_dead = set(prove_liveness(replica, [a[0] for a in golden_in]).not_live)
        del replica  # one replica's copies at a time
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
    check_golden(_lean_replica(folder, golden=True))


class _HandOver(dict):
    """Tensors given up as they are read: the image's copy becomes the only one."""

    def __getitem__(self, name: str) -> np.ndarray:
        return self.pop(name)


def _lean_replica(folder: Path, golden: bool) -> Replica:
    """A replica built exactly the flight's way (open_model, WeightImage, Replica) holding one copy of
    the weights: the stored tensors are released as the image copies them, and the graph bytes once
    the session has been built from them. (Onboard the stored copy stays: it is what a rebuild
    starts from; the ground builds one replica at a time and never rebuilds.)"""
    stored = open_model(folder, golden=golden)
    tensors, stored.tensors = _HandOver(stored.tensors), {}
    image = WeightImage(ImageLayout.from_manifest(stored.manifest), tensors)
    # The same graph bytes, handed to onnxruntime as a file: from bytes it holds a second copy of
    # them while it parses (measured: 4.1x the model at the peak, 3.3x from a file).
    graph = folder.parent / "flight-graph.onnx"
    graph.write_bytes(stored.flight_graph)
    stored.flight_graph = str(graph)  # type: ignore[assignment]  (InferenceSession takes a path too)
    replica = Replica(0, stored, image)
    stored.flight_graph = b""
    graph.unlink()
    return replica
