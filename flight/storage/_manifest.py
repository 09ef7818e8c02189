"""The model manifest: the ground's references that the flight checks everything against.

One definition, shared by `ground package` (which writes it) and the flight (which trusts nothing
else). A manifest names the model file and its sha256, the flight session configuration, the input
and output specs with their valid ranges, every initializer with its CRC-32C per tensor and per
chunk, and the golden vectors' expected-output digest.

Validation is strict and loud: every problem is a `ManifestError` naming the key and the reason.

The manifest protects itself: `manifest_crc32c` is the CRC-32C of its canonical bytes (every other
key, as sorted compact JSON), written by `dump_manifest` and checked by `load_manifest` before any
value is believed, so a changed range, version, sequence, chunk size, session block or world is
refused like a changed weight. The session block must also be this flight's: the settings it
computes under and its onnxruntime version (`FLIGHT_SESSION_BLOCK`; the engine builds its sessions
to match, and a test keeps the two equal).
"""

from __future__ import annotations

import json
import re

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import yaml

from .._crc import crc32c
from .._errors import ManifestError

FORMAT = "seuguard-model/1"
DEFAULT_CHUNK_SIZE = 64 * 1024
CRC_KEY = "manifest_crc32c"
# The session block of every manifest this flight accepts: the settings its replicas compute under
# (engine/_session.py builds them) and the onnxruntime that computes. Golden vectors are bit-exact
# only under the same settings and version.
FLIGHT_SESSION_BLOCK: dict[str, Any] = {
    "graph_optimization_level": "ORT_DISABLE_ALL",
    "execution_mode": "ORT_SEQUENTIAL",
    "intra_op_num_threads": 1,
    "inter_op_num_threads": 1,
    "session.disable_prepacking": "1",
    "providers": ["CPUExecutionProvider"],
    "onnxruntime_version": ort.__version__,
}
SUPPORTED_DTYPES = ("float16", "float32", "float64", "int8", "uint8", "int32", "int64", "bool")


def chunk_spans(nbytes: int, chunk_size: int) -> tuple[tuple[int, int], ...]:
    """The per-chunk rule, written once: (start, length) of each chunk of one tensor's bytes.

    Chunks are `chunk_size` slices of one tensor (never spanning two); the last may be shorter, and
    an empty tensor still has one chunk of length 0, so every tensor has a reference CRC."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be > 0, got {chunk_size}")
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes}")
    if nbytes == 0:
        return ((0, 0),)
    return tuple((start, min(chunk_size, nbytes - start)) for start in range(0, nbytes, chunk_size))


def chunk_crcs(raw: np.ndarray | bytes, chunk_size: int) -> tuple[int, ...]:
    """CRC-32C of each chunk of one tensor's bytes, in the order `chunk_spans` gives them."""
    data = np.frombuffer(raw, np.uint8) if isinstance(raw, (bytes, bytearray, memoryview)) else raw
    data = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    return tuple(crc32c(data[start : start + length]) for start, length in chunk_spans(data.nbytes, chunk_size))


@dataclass(frozen=True)
class IOSpec:
    """One model input or output as the flight computes it: batch 1, fixed shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    range: tuple[float, float] | None = None  # valid closed interval; None means any finite value

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class TensorRecord:
    """One initializer: its reference CRCs, and whether the flight computes from live memory."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    crc32c: int
    chunks: tuple[int, ...]  # CRC-32C of each chunk_size slice; chunks never span tensors
    live: bool  # True: in the replica's WeightImage and scrubbed; False: embedded, checked at load


@dataclass(frozen=True)
class GoldenRecord:
    """The golden vectors: inputs and expected outputs under the flight configuration."""

    file: str
    count: int
    file_sha256: str
    outputs_sha256: str  # sha256 over every expected output's bytes, vector by vector


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    sequence: int
    model_file: str
    model_sha256: str
    session: dict[str, Any]
    inputs: tuple[IOSpec, ...]
    outputs: tuple[IOSpec, ...]
    chunk_size: int
    tensors: tuple[TensorRecord, ...]
    golden: GoldenRecord
    world: str | None = None  # registered name of the world this model flies in (`seuguard.worlds`)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def live_tensors(self) -> tuple[TensorRecord, ...]:
        return tuple(t for t in self.tensors if t.live)

    @property
    def unprotected(self) -> tuple[str, ...]:
        """Float tensors that could not be made live: checked at load only, not scrubbed."""
        return tuple(t.name for t in self.tensors if not t.live and t.dtype.startswith("float"))

    def tensor(self, name: str) -> TensorRecord:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        def io(s: IOSpec) -> dict[str, Any]:
            return {
                "name": s.name,
                "dtype": s.dtype,
                "shape": list(s.shape),
                "range": None if s.range is None else [float(s.range[0]), float(s.range[1])],
            }

        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "sequence": self.sequence,
            "model_file": self.model_file,
            "model_sha256": self.model_sha256,
            "world": self.world,
            "session": dict(self.session),
            "inputs": [io(s) for s in self.inputs],
            "outputs": [io(s) for s in self.outputs],
            "chunk_size": self.chunk_size,
            "tensors": [
                {
                    "name": t.name,
                    "dtype": t.dtype,
                    "shape": list(t.shape),
                    "nbytes": t.nbytes,
                    "live": t.live,
                    "crc32c": f"0x{t.crc32c:08x}",
                    "chunks": [f"0x{c:08x}" for c in t.chunks],
                }
                for t in self.tensors
            ],
            "golden": asdict(self.golden),
            "notes": dict(self.notes),
        }


# --- parsing -----------------------------------------------------------------------------------


def _need(d: Any, key: str, typ: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(d, dict):
        raise ManifestError(f"{where}: must be a mapping")
    if key not in d:
        raise ManifestError(f"{where}: missing key '{key}'")
    value = d[key]
    if typ is int and isinstance(value, bool):
        raise ManifestError(f"{where}.{key}: must be an integer, got {value!r}")
    if not isinstance(value, typ):
        names = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise ManifestError(f"{where}.{key}: must be {names}, got {type(value).__name__}")
    return value


def _crc(value: Any, where: str) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 10:
        raise ManifestError(f"{where}: must be a CRC-32C as '0x' and 8 hex digits, got {value!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise ManifestError(f"{where}: not hexadecimal: {value!r}") from None


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise ManifestError(f"{where}: must be a list of non-negative integers, got {value!r}")
    return tuple(value)


def _dtype(value: Any, where: str) -> str:
    if value not in SUPPORTED_DTYPES:
        raise ManifestError(f"{where}: unsupported dtype {value!r} (one of {', '.join(SUPPORTED_DTYPES)})")
    return value


def _io(d: Any, where: str) -> IOSpec:
    name = _need(d, "name", str, where)
    rng = d.get("range")
    if rng is not None:
        bad = ManifestError(f"{where}.range: must be [low, high] finite with low <= high, got {rng!r}")
        if (
            not isinstance(rng, list)
            or len(rng) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)
        ):
            raise bad
        try:
            rng = (float(rng[0]), float(rng[1]))
        except OverflowError:  # an integer beyond any float
            raise bad from None
        if not all(math.isfinite(v) for v in rng) or rng[0] > rng[1]:
            raise bad
    return IOSpec(
        name=name,
        dtype=_dtype(_need(d, "dtype", str, where), f"{where}.dtype"),
        shape=_shape(_need(d, "shape", list, where), f"{where}.shape"),
        range=rng,
    )


def manifest_from_dict(d: Any, source: str = "manifest") -> Manifest:
    """Validate and build a Manifest; raise ManifestError naming the first bad key."""
    if not isinstance(d, dict):
        raise ManifestError(f"{source}: must be a mapping at top level")
    fmt = d.get("format")
    if fmt != FORMAT:
        raise ManifestError(f"{source}.format: expected {FORMAT!r}, got {fmt!r}")
    chunk_size = _need(d, "chunk_size", int, source)
    if chunk_size <= 0 or chunk_size % 64:
        raise ManifestError(f"{source}.chunk_size: must be a positive multiple of 64, got {chunk_size}")
    tensors = []
    names = set()
    for i, t in enumerate(_need(d, "tensors", list, source)):
        where = f"{source}.tensors[{i}]"
        name = _need(t, "name", str, where)
        if name in names:
            raise ManifestError(f"{where}.name: duplicate tensor {name!r}")
        names.add(name)
        dtype = _dtype(_need(t, "dtype", str, where), f"{where}.dtype")
        shape = _shape(_need(t, "shape", list, where), f"{where}.shape")
        nbytes = _need(t, "nbytes", int, where)
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if nbytes != expected:
            raise ManifestError(f"{where}.nbytes: {nbytes} disagrees with shape and dtype ({expected})")
        chunks = tuple(_crc(c, f"{where}.chunks[{j}]") for j, c in enumerate(_need(t, "chunks", list, where)))
        n_chunks = len(chunk_spans(nbytes, chunk_size))
        if len(chunks) != n_chunks:
            raise ManifestError(f"{where}.chunks: expected {n_chunks} chunk CRCs, got {len(chunks)}")
        tensors.append(
            TensorRecord(
                name=name,
                dtype=dtype,
                shape=shape,
                nbytes=nbytes,
                crc32c=_crc(_need(t, "crc32c", str, where), f"{where}.crc32c"),
                chunks=chunks,
                live=_need(t, "live", bool, where),
            )
        )
    g = _need(d, "golden", dict, source)
    golden = GoldenRecord(
        file=_need(g, "file", str, f"{source}.golden"),
        count=_need(g, "count", int, f"{source}.golden"),
        file_sha256=_need(g, "file_sha256", str, f"{source}.golden"),
        outputs_sha256=_need(g, "outputs_sha256", str, f"{source}.golden"),
    )
    if golden.count < 1:
        raise ManifestError(f"{source}.golden.count: must be >= 1, got {golden.count}")
    for key, name in (("model_file", d.get("model_file")), ("golden.file", golden.file)):
        if isinstance(name, str) and (not name or Path(name).name != name or name in (".", "..")):
            raise ManifestError(f"{source}.{key}: must be a plain file name in the model folder, got {name!r}")
    sequence = _need(d, "sequence", int, source)
    if sequence < 0:
        raise ManifestError(f"{source}.sequence: must be >= 0, got {sequence}")
    inputs = tuple(_io(s, f"{source}.inputs[{i}]") for i, s in enumerate(_need(d, "inputs", list, source)))
    outputs = tuple(_io(s, f"{source}.outputs[{i}]") for i, s in enumerate(_need(d, "outputs", list, source)))
    if not inputs or not outputs:
        raise ManifestError(f"{source}: a model needs at least one input and one output")
    world = d.get("world")
    if world is not None and (not isinstance(world, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", world)):
        raise ManifestError(f"{source}.world: must be a registered world name, got {world!r}")
    notes = d.get("notes") or {}
    if not isinstance(notes, dict):
        raise ManifestError(f"{source}.notes: must be a mapping")
    model_sha = _need(d, "model_sha256", str, source)
    if len(model_sha) != 64 or any(c not in "0123456789abcdef" for c in model_sha):
        raise ManifestError(f"{source}.model_sha256: must be 64 lowercase hex digits")
    return Manifest(
        name=_need(d, "name", str, source),
        version=str(_need(d, "version", (str, int, float), source)),
        sequence=sequence,
        model_file=_need(d, "model_file", str, source),
        model_sha256=model_sha,
        session=_need(d, "session", dict, source),
        inputs=inputs,
        outputs=outputs,
        chunk_size=chunk_size,
        tensors=tuple(tensors),
        golden=golden,
        world=world,
        notes=notes,
    )


def canonical_bytes(d: dict[str, Any]) -> bytes:
    """The bytes the manifest's own CRC covers: every key but the CRC, as sorted compact JSON."""
    body = {k: v for k, v in d.items() if k != CRC_KEY}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str).encode()


def check_manifest_crc(d: Any, source: str) -> None:
    """Refuse a manifest whose canonical bytes disagree with its own CRC-32C (changed since packaging)."""
    if not isinstance(d, dict):
        raise ManifestError(f"{source}: must be a mapping at top level")
    recorded = _crc(d.get(CRC_KEY), f"{source}.{CRC_KEY}") if CRC_KEY in d else None
    if recorded is None:
        raise ManifestError(f"{source}: no {CRC_KEY}; repackage the model with `ground package`")
    got = crc32c(canonical_bytes(d))
    if got != recorded:
        raise ManifestError(f"{source}: changed since it was packaged (CRC-32C 0x{got:08x} disagrees with "
                            f"its {CRC_KEY} 0x{recorded:08x})")


def check_session(manifest: Manifest, source: str = "manifest") -> None:
    """Refuse a manifest whose session block is not this flight's settings and onnxruntime version."""
    ours = FLIGHT_SESSION_BLOCK
    for key in sorted(set(ours) | set(manifest.session)):
        theirs = manifest.session.get(key, "(missing)")
        if theirs != ours.get(key, "(missing)"):
            raise ManifestError(f"{source}.session.{key}: the model was packaged under {theirs!r}, "
                                f"this flight runs {ours.get(key, '(missing)')!r}")


def load_manifest(path: Path) -> Manifest:
    """Read and validate `manifest.yaml`; every failure is a one-line ManifestError."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ManifestError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: unreadable ({exc.__class__.__name__})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ManifestError(f"{path}: not valid YAML{at}") from None
    check_manifest_crc(data, str(path))
    return manifest_from_dict(data, source=path.name)


def seal(d: dict[str, Any]) -> dict[str, Any]:
    """`d` carrying its own CRC-32C (replacing any), placed right after the format."""
    crc = crc32c(canonical_bytes(d))
    body = {k: v for k, v in d.items() if k not in ("format", CRC_KEY)}
    return {"format": d.get("format"), CRC_KEY: f"0x{crc:08x}", **body}


def manifest_text(manifest: Manifest) -> str:
    """The manifest as written to storage: YAML, sealed with its own CRC-32C."""
    return yaml.safe_dump(seal(manifest.to_dict()), sort_keys=False, width=100)


def dump_manifest(manifest: Manifest, path: Path) -> None:
    Path(path).write_text(manifest_text(manifest))
