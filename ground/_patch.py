"""Build, sign and inspect model patches (the format itself is `flight.uplink`'s, imported here).

A delta patch carries only the changed tensor elements of `model.onnx`, XORed against the base,
located by the byte offsets of each initializer's `raw_data` in the serialized file (read from the
protobuf wire format, so nothing is re-serialized), plus the small manifest and golden files whole.
When the file length changes or a byte outside any tensor changes (graph, shapes), the patch is
whole-model. Every delta is applied here with the flight's own `apply_files` and must reproduce
the new folder's digest before it is signed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from flight import SeuguardError, load_manifest
from flight.uplink import (
    FileEntry,
    PatchKind,
    PatchRejected,
    TensorDelta,
    apply_files,
    decode_patch,
    encode_content,
    files_digest,
    folder_files,
    sign_patch,
)

_ZERO = b"\x00" * 32
_ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8, "int8": 1, "uint8": 1, "int32": 4, "int64": 8, "bool": 1}


class PatchKeyError(SeuguardError):
    """A key file that cannot be read or is not an Ed25519 key."""


def keygen(path: Path) -> tuple[Path, Path]:
    """Write an Ed25519 private key (PEM, mode 0600) at `path` and its raw public key at path.pub."""
    path = Path(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)
    pub = path.with_name(path.name + ".pub")
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex().encode() + b"\n")
    return path, pub


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise PatchKeyError(f"{path}: not a readable Ed25519 private key ({exc.__class__.__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PatchKeyError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        raw = bytes.fromhex(Path(path).read_text().strip())
        return Ed25519PublicKey.from_public_bytes(raw)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise PatchKeyError(f"{path}: not a readable Ed25519 public key ({exc.__class__.__name__})") from None


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# --- protobuf wire walking: where each initializer's raw_data sits in model.onnx ----------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes, start: int, end: int):
    """(field number, wire type, value start, value end or varint value) of one message."""
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield field, wire, value, None
        elif wire == 2:
            n, pos = _varint(data, pos)
            yield field, wire, pos, pos + n
            pos += n
        elif wire == 1:
            yield field, wire, pos, pos + 8
            pos += 8
        elif wire == 5:
            yield field, wire, pos, pos + 4
            pos += 4
        else:
            raise ValueError(f"wire type {wire}")


def raw_data_extents(onnx_bytes: bytes) -> dict[str, tuple[int, int]]:
    """name -> (offset, length) of each initializer's raw_data (ModelProto.graph=7,
    GraphProto.initializer=5, TensorProto.name=8, raw_data=9)."""
    out: dict[str, tuple[int, int]] = {}
    for f, w, s, e in _fields(onnx_bytes, 0, len(onnx_bytes)):
        if f != 7 or w != 2:
            continue
        for gf, gw, gs, ge in _fields(onnx_bytes, s, e):
            if gf != 5 or gw != 2:
                continue
            name, extent = None, None
            for tf, tw, ts, te in _fields(onnx_bytes, gs, ge):
                if tf == 8 and tw == 2:
                    name = onnx_bytes[ts:te].decode()
                elif tf == 9 and tw == 2:
                    extent = (ts, te - ts)
            if name is not None and extent is not None:
                out[name] = extent
    return out


# --- building -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildReport:
    kind: str
    patch_bytes: int
    model_bytes: int
    changed_elements: int


def _delta_entry(name: str, base: bytes, new: bytes, itemsize: dict[str, int]) -> FileEntry | None:
    """XOR entry for `name`, or None when the change is not confined to tensor raw data."""
    if len(base) != len(new):
        return None
    try:
        extents = raw_data_extents(new)
        if raw_data_extents(base) != extents:
            return None
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
    a, b = np.frombuffer(base, np.uint8), np.frombuffer(new, np.uint8)
    diff = np.flatnonzero(a != b)
    covered = np.zeros(len(new), bool)
    tensors = []
    for tname, (offset, length) in sorted(extents.items(), key=lambda kv: kv[1][0]):
        covered[offset : offset + length] = True
        word = itemsize.get(tname, 1)
        if length % word or offset + length > len(new):
            word = 1
        dt = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[word]
        wa = np.frombuffer(base, dt, count=length // word, offset=offset)
        wb = np.frombuffer(new, dt, count=length // word, offset=offset)
        idx = np.flatnonzero(wa != wb)
        if len(idx):
            tensors.append(TensorDelta(tname, offset, length, word, idx.astype(np.uint32), (wa[idx] ^ wb[idx]).astype(dt)))
    if len(diff) and not covered[diff].all():
        return None
    return FileEntry(name, size=len(new), tensors=tuple(tensors))


def build_patch(base_dir: Path, new_dir: Path, key: Ed25519PrivateKey, sequence: int, spacecraft: int,
                force_whole: bool = False) -> tuple[bytes, BuildReport]:
    """A signed patch turning model folder `base_dir` into `new_dir` (delta when it can be)."""
    base_dir, new_dir = Path(base_dir), Path(new_dir)
    for d in (base_dir, new_dir):
        if not d.is_dir():
            raise SeuguardError(f"{d}: not a model folder")
    if not 0 <= sequence < 1 << 64 or not 0 <= spacecraft < 1 << 32:
        raise SeuguardError("--seq must fit in 64 bits and --spacecraft in 32 bits, both >= 0")
    base, new = folder_files(base_dir), folder_files(new_dir)
    manifest = load_manifest(new_dir / "manifest.yaml")
    itemsize = {t.name: _ITEMSIZE.get(t.dtype, 1) for t in manifest.tensors}
    whole = tuple(FileEntry(n, data=d) for n, d in sorted(new.items()))
    files, kind = whole, PatchKind.WHOLE
    if not force_whole and manifest.model_file in base:
        entry = _delta_entry(manifest.model_file, base[manifest.model_file], new[manifest.model_file], itemsize)
        if entry is not None:
            files = tuple(entry if f.name == manifest.model_file else f for f in whole)
            kind = PatchKind.DELTA
            if files_digest(apply_files(base, files)) != files_digest(new):
                files, kind = whole, PatchKind.WHOLE  # never sign a delta that does not reproduce the model
    header = dict(kind=kind, spacecraft=spacecraft, sequence=sequence,
                  base_sha256=files_digest(base) if kind is PatchKind.DELTA else _ZERO,
                  result_sha256=files_digest(new))
    raw = sign_patch(header, encode_content(files), key.sign)
    check = decode_patch(raw, key.public_key(), spacecraft)
    if isinstance(check, PatchRejected):  # should never happen: our own patch must decode
        raise SeuguardError(f"built patch fails its own check: {check}")
    changed = sum(len(t.indices) for f in files for t in f.tensors)
    return raw, BuildReport(kind.name.lower(), len(raw), sum(len(d) for d in new.values()), changed)
