"""The model store: a model folder on onboard storage, read and checked against its manifest.

Responsibility: turn `model.onnx` + `manifest.yaml` + `golden.npz` into verified material for the
replicas (the flight graph with live tensors as placeholders, the pristine tensor values, the golden
vectors), and re-read single chunks from storage when the scrubber cannot repair by majority.

Nothing read from storage is trusted before it matches the ground references: the file's sha256,
then every tensor's and chunk's CRC-32C. Every refusal is a `ModelCorrupted` or `ManifestError`
whose message names the file, or the tensor and chunk, that failed.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx
from onnx import numpy_helper

from .._crc import crc32c
from .._errors import ModelCorrupted
from ._manifest import IOSpec, Manifest, TensorRecord, check_session, chunk_crcs, chunk_spans, load_manifest

MANIFEST_FILE = "manifest.yaml"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def golden_outputs_digest(outputs: list[list[np.ndarray]]) -> str:
    """sha256 over every expected output's bytes, vector by vector, output by output."""
    h = hashlib.sha256()
    for vector in outputs:
        for arr in vector:
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def golden_key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


class ChunkRef(Protocol):
    """Anything naming one chunk of one tensor (the engine's `Chunk` is one; storage does not import it)."""

    tensor: str
    tensor_chunk: int


@dataclass
class StoredModel:
    """A verified model folder: what the replicas are built from."""

    directory: Path
    manifest: Manifest
    flight_graph: bytes  # model.onnx with live tensors as zero placeholders (optimizer is off)
    tensors: dict[str, np.ndarray]  # pristine live tensor values, checked against every chunk CRC
    golden_inputs: list[list[np.ndarray]]  # per vector, per manifest input
    golden_outputs: list[list[np.ndarray]]  # per vector, per manifest output

    @property
    def model_path(self) -> Path:
        return self.directory / self.manifest.model_file

    def reload_chunk(self, tensor: str | ChunkRef, tensor_chunk: int | None = None) -> np.ndarray:
        """Re-read chunk `tensor_chunk` of `tensor` from storage: the verified bytes (a new uint8 array).

        The file is checked against its sha256 and the chunk against its manifest CRC before anything
        is returned. Also accepts one chunk-like object with `.tensor` and `.tensor_chunk` (the
        scrubber's `Chunk`, duck-typed: storage imports nothing of the engine)."""
        if not isinstance(tensor, str):
            tensor, tensor_chunk = tensor.tensor, tensor.tensor_chunk
        if tensor_chunk is None:
            raise TypeError("reload_chunk(tensor, tensor_chunk): the chunk index is missing")
        try:
            rec = self.manifest.tensor(tensor)
        except KeyError:
            raise ModelCorrupted(f"tensor {tensor}: not in the manifest") from None
        spans = chunk_spans(rec.nbytes, self.manifest.chunk_size)
        if not 0 <= tensor_chunk < len(spans):
            raise ModelCorrupted(f"tensor {tensor} chunk {tensor_chunk}: no such chunk ({len(spans)} chunks)")
        model = _read_model(self.model_path, self.manifest)
        init = {t.name: t for t in model.graph.initializer}
        if tensor not in init:
            raise ModelCorrupted(f"{self.model_path}: tensor {tensor} missing on reload")
        raw = np.ascontiguousarray(numpy_helper.to_array(init[tensor])).view(np.uint8).reshape(-1)
        start, length = spans[tensor_chunk]
        data = raw[start : start + length].copy()
        if data.nbytes != length or crc32c(data) != rec.chunks[tensor_chunk]:
            raise ModelCorrupted(f"tensor {tensor} chunk {tensor_chunk}: storage copy fails its CRC")
        return data


def _read_model(path: Path, manifest: Manifest) -> onnx.ModelProto:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelCorrupted(f"{path}: missing") from None
    except OSError as exc:
        raise ModelCorrupted(f"{path}: unreadable ({exc.strerror})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.model_sha256:
        raise ModelCorrupted(
            f"{path}: sha256 {digest[:16]}... disagrees with manifest {manifest.model_sha256[:16]}..."
        )
    try:
        return onnx.load_model_from_string(data)
    except Exception:  # protobuf raises its own DecodeError; any failure here is a bad file
        raise ModelCorrupted(f"{path}: not a valid ONNX model") from None


def check_tensor(rec: TensorRecord, arr: np.ndarray, chunk_size: int) -> None:
    """Compare one tensor with its manifest record; raise ModelCorrupted naming tensor and chunk."""
    if str(arr.dtype) != rec.dtype or tuple(arr.shape) != rec.shape:
        raise ModelCorrupted(
            f"tensor {rec.name}: {arr.dtype}{list(arr.shape)} disagrees with manifest {rec.dtype}{list(rec.shape)}"
        )
    raw = np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
    for j, (got, ref) in enumerate(zip(chunk_crcs(raw, chunk_size), rec.chunks)):
        if got != ref:
            raise ModelCorrupted(
                f"tensor {rec.name} chunk {j}: CRC-32C 0x{got:08x} disagrees with manifest 0x{ref:08x}"
            )
    got = crc32c(raw)
    if got != rec.crc32c:
        raise ModelCorrupted(f"tensor {rec.name}: CRC-32C 0x{got:08x} disagrees with manifest 0x{rec.crc32c:08x}")


def _check_io(kind: str, graph_io, specs: tuple[IOSpec, ...], initializer_names: set[str]) -> None:
    actual = [v for v in graph_io if v.name not in initializer_names]
    names = [v.name for v in actual]
    if names != [s.name for s in specs]:
        raise ModelCorrupted(f"model {kind}s {names} do not match manifest {[s.name for s in specs]}")
    for v, spec in zip(actual, specs):
        elem = v.type.tensor_type.elem_type
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(elem)) if elem else "?"
        if dtype != spec.dtype:
            raise ModelCorrupted(f"model {kind} {v.name}: dtype {dtype} does not match manifest {spec.dtype}")
        dims = v.type.tensor_type.shape.dim
        if len(dims) != len(spec.shape) or any(
            d.HasField("dim_value") and d.dim_value != s for d, s in zip(dims, spec.shape)
        ):
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
            raise ModelCorrupted(f"model {kind} {v.name}: shape {shape} does not match manifest {list(spec.shape)}")


def _load_golden(directory: Path, manifest: Manifest) -> tuple[list[list[np.ndarray]], list[list[np.ndarray]]]:
    path = directory / manifest.golden.file
    if not path.is_file():
        raise ModelCorrupted(f"{path}: missing golden vectors")
    digest = sha256_file(path)
    if digest != manifest.golden.file_sha256:
        raise ModelCorrupted(f"{path}: sha256 {digest[:16]}... disagrees with manifest")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelCorrupted(f"{path}: unreadable golden vectors ({exc.__class__.__name__})") from None
    n = manifest.golden.count

    def take(kind: str, specs: tuple[IOSpec, ...]) -> list[list[np.ndarray]]:
        arrays = []
        for spec in specs:
            key = golden_key(kind, spec.name)
            arr = data.get(key)
            if arr is None:
                raise ModelCorrupted(f"{path}: no '{key}' array")
            if arr.shape != (n, *spec.shape) or str(arr.dtype) != spec.dtype:
                raise ModelCorrupted(f"{path}: '{key}' is {arr.dtype}{list(arr.shape)}, expected {spec.dtype}{[n, *spec.shape]}")
            arrays.append(arr)
        return [[a[i] for a in arrays] for i in range(n)]

    inputs, outputs = take("input", manifest.inputs), take("output", manifest.outputs)
    if golden_outputs_digest(outputs) != manifest.golden.outputs_sha256:
        raise ModelCorrupted(f"{path}: expected outputs disagree with the manifest digest")
    return inputs, outputs


def _flight_skeleton(model: onnx.ModelProto, live: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The graph that flies, without its live initializers (`_flight_graph_bytes` adds them as zero
    placeholders: the optimizer is off, so onnxruntime computes from the image given by
    `add_initializer`); every other initializer is kept as stored.

    A new message rather than the stored one edited: protobuf keeps an overwritten field's bytes
    until the whole message goes, so this lets the stored copy of the weights be released first."""
    kept = []
    for t in model.graph.initializer:
        if t.name not in live:
            copy = onnx.TensorProto()
            copy.CopyFrom(t)
            kept.append(copy)
    model.graph.ClearField("initializer")
    skeleton = onnx.ModelProto()
    skeleton.CopyFrom(model)
    skeleton.graph.initializer.extend(kept)
    return skeleton


def _flight_graph_bytes(skeleton: onnx.ModelProto, live: dict[str, np.ndarray]) -> bytes:
    """The skeleton's bytes followed by one placeholder initializer per live tensor, each serialized
    on its own. Protobuf parses concatenated messages as one merged message (repeated fields are
    appended), so this is the whole graph, without ever serializing it whole: serializing holds a
    second copy of the message (measured with upb: 2x a 256 MiB message at the peak)."""
    pieces = [skeleton.SerializeToString()]
    for name, arr in live.items():
        piece = onnx.ModelProto()
        t = piece.graph.initializer.add()
        t.name, t.data_type = name, onnx.helper.np_dtype_to_tensor_dtype(arr.dtype)
        t.dims.extend(arr.shape)
        t.raw_data = bytes(arr.nbytes)
        pieces.append(piece.SerializeToString())
    return b"".join(pieces)


def open_model(directory: Path | str, golden: bool = True) -> StoredModel:
    """Read a model folder and check every byte of it against the manifest (not the golden run).

    `golden=False` is for the ground while it is still computing the golden vectors."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelCorrupted(f"{directory}: not a model folder")
    manifest = load_manifest(directory / MANIFEST_FILE)
    check_session(manifest, str(directory / MANIFEST_FILE))
    model = _read_model(directory / manifest.model_file, manifest)
    init = {t.name: t for t in model.graph.initializer}
    names = {t.name for t in manifest.tensors}
    extra = sorted(set(init) - names)
    if extra:
        raise ModelCorrupted(f"initializer {extra[0]} is not in the manifest")
    tensors: dict[str, np.ndarray] = {}
    for rec in manifest.tensors:
        if rec.name not in init:
            raise ModelCorrupted(f"tensor {rec.name}: in the manifest but not in {manifest.model_file}")
        arr = numpy_helper.to_array(init[rec.name])
        check_tensor(rec, arr, manifest.chunk_size)
        if rec.live:
            tensors[rec.name] = arr
    _check_io("input", model.graph.input, manifest.inputs, set(init))
    _check_io("output", model.graph.output, manifest.outputs, set())
    skeleton = _flight_skeleton(model, tensors)
    del model, init  # the stored copy of the weights goes before the placeholders are made
    flight_graph = _flight_graph_bytes(skeleton, tensors)
    del skeleton
    golden_inputs, golden_outputs = _load_golden(directory, manifest) if golden else ([], [])
    return StoredModel(
        directory=directory,
        manifest=manifest,
        flight_graph=flight_graph,
        tensors=tensors,
        golden_inputs=golden_inputs,
        golden_outputs=golden_outputs,
    )
