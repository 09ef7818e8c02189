"""The model patch format: the one definition, shared with `ground` (which builds and signs patches).

A patch turns one packaged model folder (the base) into another (the result):

    header (132 bytes, big-endian, all of it signed)
      magic b"SGPT" | format u16 = 1 | kind u8 (1 delta, 2 whole) | reserved u8 = 0
      spacecraft id u32 | sequence u64
      base sha256 (32; zeros for a whole patch: any base) | result sha256 (32) | patch sha256 (32)
      body bytes u64 (compressed, on the wire) | content bytes u64 (uncompressed body)
    signature  64 bytes  Ed25519 over the header
    body       zstd frame of the content

The content lists the result folder's files, each either WHOLE (its bytes) or XOR: the base file of
the same name with, per tensor, element indices and XOR words (the changed elements of a fine-tune).
sha256 values are `model_digest` of a whole folder (every file's name, length and bytes), so the
result digest covers manifest and golden vectors as well as the weights.

`decode_patch` never raises on bad bytes: it returns a `PatchRejected` naming the first check that
failed (cheap checks first; the signature before anything is decompressed), like `decode_command`.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import zstandard
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .._errors import SeuguardError

MAGIC = b"SGPT"
FORMAT_VERSION = 1
_HEADER = struct.Struct(">4sHBBIQ32s32s32sQQ")
HEADER_LEN = _HEADER.size  # 132
SIGNATURE_LEN = 64
ZERO_DIGEST = b"\x00" * 32
MAX_PATCH_BYTES = 16 << 20  # on the wire: above this, refused before any work (OVERSIZED)
MAX_CONTENT_BYTES = 64 << 20  # uncompressed: a decompression bomb stops here (OVERSIZED)
MAX_FILES = 16
_WORDS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


class PatchKind(enum.IntEnum):
    DELTA = 1
    WHOLE = 2


class RejectReason(enum.IntEnum):
    """Why a patch was refused; one name per check (`PatchRejected.reason`)."""

    TRUNCATED = 1  # shorter than its header, signature, or declared body
    MALFORMED = 2  # bad magic, kind, reserved bits, trailing bytes, or content that does not parse
    UNSUPPORTED_FORMAT = 3  # a format version this flight software does not read
    OVERSIZED = 4  # patch or uncompressed content above the limits (a zip bomb ends here)
    BAD_SIGNATURE = 5  # Ed25519 signature over the header does not verify with the onboard key
    BODY_MISMATCH = 6  # the body's sha256 is not the signed patch sha256 (corrupted in transit)
    WRONG_SPACECRAFT = 7  # signed for another spacecraft
    REPLAYED_SEQUENCE = 8  # sequence number not above the highest accepted one
    WRONG_BASE = 9  # the active model is not the base this delta was built against
    RESULT_MISMATCH = 10  # the applied result's sha256 is not the signed result sha256
    MODEL_INVALID = 11  # the result fails open_model (manifest, sha256, CRCs, specs)
    GOLDEN_MISMATCH = 12  # the result fails its golden vectors under the flight configuration
    SEQUENCE_RECORD_CORRUPT = 13  # the highest-accepted record is unreadable: refuse all (fail closed)
    TRANSFER_FAILED = 14  # the CFDP transfer ended without a complete, checksum-valid file
    STORAGE_ERROR = 15  # writing the staged slot failed (disk full, I/O error)


class PatchRejected(SeuguardError):
    """The ground sent a patch the flight will not stage: `reason` names the failed check."""

    def __init__(self, reason: RejectReason, detail: str = ""):
        self.reason = RejectReason(reason)
        self.detail = detail
        super().__init__(f"{self.reason.name}: {detail}" if detail else self.reason.name)


@dataclass(frozen=True)
class PatchHeader:
    kind: PatchKind
    spacecraft: int
    sequence: int
    base_sha256: bytes
    result_sha256: bytes
    patch_sha256: bytes
    body_bytes: int
    content_bytes: int

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, FORMAT_VERSION, int(self.kind), 0, self.spacecraft, self.sequence,
                            self.base_sha256, self.result_sha256, self.patch_sha256,
                            self.body_bytes, self.content_bytes)

    def describe(self) -> dict:
        return {
            "kind": self.kind.name.lower(), "spacecraft": self.spacecraft, "sequence": self.sequence,
            "base_sha256": self.base_sha256.hex(), "result_sha256": self.result_sha256.hex(),
            "patch_sha256": self.patch_sha256.hex(), "body_bytes": self.body_bytes,
            "content_bytes": self.content_bytes,
        }


@dataclass(frozen=True)
class TensorDelta:
    """Changed elements of one tensor inside a file: XOR `words` into the elements at `indices`."""

    name: str
    offset: int  # byte offset of the tensor's raw data in the file
    nbytes: int
    word: int  # element size in bytes (1, 2, 4, 8)
    indices: np.ndarray  # uint32, strictly increasing
    words: np.ndarray  # unsigned ints of `word` bytes, XOR against the base


@dataclass(frozen=True)
class FileEntry:
    name: str
    data: bytes | None = None  # WHOLE
    size: int = 0  # XOR: result size (equals the base file's)
    tensors: tuple[TensorDelta, ...] = ()  # XOR

    @property
    def is_whole(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class Patch:
    header: PatchHeader
    files: tuple[FileEntry, ...]
    raw_bytes: int

    @property
    def changed_elements(self) -> int:
        return sum(len(t.indices) for f in self.files for t in f.tensors)


# --- model folders ---------------------------------------------------------------------------------


def folder_files(directory: Path) -> dict[str, bytes]:
    """Every regular file of a model folder, by name (model folders are flat)."""
    return {p.name: p.read_bytes() for p in sorted(Path(directory).iterdir()) if p.is_file()}


def files_digest(files: dict[str, bytes]) -> bytes:
    h = hashlib.sha256()
    for chunk in digest_chunks(files):
        h.update(chunk)
    return h.digest()


def digest_chunks(files: dict[str, bytes], block: int = 1 << 20) -> Iterator[bytes | memoryview]:
    """The byte stream `model_digest` hashes, in blocks (so onboard hashing can be budgeted)."""
    for name in sorted(files):
        data = memoryview(files[name])
        yield name.encode() + b"\0" + struct.pack(">Q", len(data))
        for i in range(0, len(data), block):
            yield data[i : i + block]


def model_digest(directory: Path | str) -> bytes:
    """sha256 of a model folder: every file's name, length and bytes, in name order."""
    return files_digest(folder_files(Path(directory)))


# --- content ---------------------------------------------------------------------------------------


def encode_content(files: tuple[FileEntry, ...]) -> bytes:
    out = [struct.pack(">H", len(files))]
    for f in files:
        name = f.name.encode()
        out.append(struct.pack(">H", len(name)) + name)
        if f.is_whole:
            out.append(struct.pack(">BQ", 0, len(f.data)) + f.data)
            continue
        out.append(struct.pack(">BQI", 1, f.size, len(f.tensors)))
        for t in f.tensors:
            tname = t.name.encode()
            out.append(struct.pack(">H", len(tname)) + tname)
            out.append(struct.pack(">QQBI", t.offset, t.nbytes, t.word, len(t.indices)))
            out.append(np.asarray(t.indices, ">u4").tobytes())
            out.append(np.asarray(t.words, np.dtype(_WORDS[t.word]).newbyteorder(">")).tobytes())
    return b"".join(out)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise PatchRejected(RejectReason.MALFORMED, f"content ends at byte {len(self.data)}, needs {self.pos + n}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def name(self) -> str:
        (n,) = self.unpack(">H")
        try:
            text = self.take(n).decode()
        except UnicodeDecodeError:
            raise PatchRejected(RejectReason.MALFORMED, "a name is not UTF-8") from None
        return text


def decode_content(data: bytes) -> tuple[FileEntry, ...]:
    """Parse the uncompressed content; raises PatchRejected(MALFORMED) naming the problem."""
    r = _Reader(data)
    (count,) = r.unpack(">H")
    if not 1 <= count <= MAX_FILES:
        raise PatchRejected(RejectReason.MALFORMED, f"{count} files (1..{MAX_FILES})")
    files: list[FileEntry] = []
    for _ in range(count):
        name = r.name()
        if not name or Path(name).name != name or name in (".", "..") or name.startswith("."):
            raise PatchRejected(RejectReason.MALFORMED, f"file name {name!r} is not a plain file name")
        if any(f.name == name for f in files):
            raise PatchRejected(RejectReason.MALFORMED, f"file {name!r} twice")
        (mode,) = r.unpack(">B")
        if mode == 0:
            (size,) = r.unpack(">Q")
            files.append(FileEntry(name, data=r.take(size)))
            continue
        if mode != 1:
            raise PatchRejected(RejectReason.MALFORMED, f"file {name!r}: unknown mode {mode}")
        size, n_tensors = r.unpack(">QI")
        tensors = []
        for _ in range(n_tensors):
            tname = r.name()
            offset, nbytes, word, n = r.unpack(">QQBI")
            if word not in _WORDS or nbytes % word or offset + nbytes > size:
                raise PatchRejected(RejectReason.MALFORMED, f"tensor {tname!r}: bad extent or element size")
            indices = np.frombuffer(r.take(4 * n), ">u4").astype(np.int64)
            words = np.frombuffer(r.take(word * n), np.dtype(_WORDS[word]).newbyteorder(">"))
            if n and (indices[-1] >= nbytes // word or np.any(np.diff(indices) <= 0)):
                raise PatchRejected(RejectReason.MALFORMED, f"tensor {tname!r}: indices out of order or range")
            tensors.append(TensorDelta(tname, offset, nbytes, word, indices, words.astype(_WORDS[word])))
        files.append(FileEntry(name, size=size, tensors=tuple(tensors)))
    if r.pos != len(data):
        raise PatchRejected(RejectReason.MALFORMED, f"{len(data) - r.pos} bytes after the last file")
    return tuple(files)


def apply_files(base: dict[str, bytes], files: tuple[FileEntry, ...]) -> dict[str, bytes]:
    """The result folder's files. A XOR entry needs its base file of exactly its size (WRONG_BASE)."""
    out: dict[str, bytes] = {}
    for f in files:
        if f.is_whole:
            out[f.name] = f.data
            continue
        src = base.get(f.name)
        if src is None or len(src) != f.size:
            raise PatchRejected(RejectReason.WRONG_BASE, f"base has no {f.name!r} of {f.size} bytes")
        buf = bytearray(src)
        for t in f.tensors:
            view = np.frombuffer(buf, dtype=_WORDS[t.word], count=t.nbytes // t.word, offset=t.offset)
            view[t.indices] ^= t.words
        out[f.name] = bytes(buf)
    return out


# --- the whole patch -------------------------------------------------------------------------------


def sign_patch(header_fields: dict, content: bytes, sign, level: int = 19) -> bytes:
    """Compress `content`, fill in the sizes and patch sha256, sign the header with `sign(bytes)`
    (an Ed25519 private key's `.sign`; the flight never holds one)."""
    body = zstandard.ZstdCompressor(level=level, write_content_size=True).compress(content)
    header = PatchHeader(patch_sha256=hashlib.sha256(body).digest(), body_bytes=len(body),
                         content_bytes=len(content), **header_fields)
    packed = header.pack()
    return packed + sign(packed) + body


def decode_header(raw: bytes, public_key: Ed25519PublicKey | None, max_patch_bytes: int = MAX_PATCH_BYTES,
                  max_content_bytes: int = MAX_CONTENT_BYTES) -> PatchHeader | PatchRejected:
    """Parse and authenticate the header (no body work); never raises. `public_key=None` skips the
    signature (ground inspection without a key only)."""
    raw = bytes(raw)
    if len(raw) > max_patch_bytes:
        return PatchRejected(RejectReason.OVERSIZED, f"{len(raw)} bytes, limit {max_patch_bytes}")
    if len(raw) < HEADER_LEN + SIGNATURE_LEN:
        return PatchRejected(RejectReason.TRUNCATED, f"{len(raw)} bytes, shorter than header and signature")
    (magic, version, kind, reserved, spacecraft, sequence, base, result, patch_sha,
     body_bytes, content_bytes) = _HEADER.unpack_from(raw)
    if magic != MAGIC:
        return PatchRejected(RejectReason.MALFORMED, f"magic {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        return PatchRejected(RejectReason.UNSUPPORTED_FORMAT, f"format {version}, this flight reads {FORMAT_VERSION}")
    if kind not in PatchKind._value2member_map_ or reserved != 0:
        return PatchRejected(RejectReason.MALFORMED, f"kind {kind}, reserved {reserved}")
    end = HEADER_LEN + SIGNATURE_LEN + body_bytes
    if len(raw) < end:
        return PatchRejected(RejectReason.TRUNCATED, f"{len(raw)} bytes, header says {end}")
    if len(raw) > end:
        return PatchRejected(RejectReason.MALFORMED, f"{len(raw) - end} bytes after the body")
    if content_bytes > max_content_bytes:
        return PatchRejected(RejectReason.OVERSIZED, f"content {content_bytes} bytes, limit {max_content_bytes}")
    if public_key is not None:
        try:
            public_key.verify(raw[HEADER_LEN : HEADER_LEN + SIGNATURE_LEN], raw[:HEADER_LEN])
        except InvalidSignature:
            return PatchRejected(RejectReason.BAD_SIGNATURE, "Ed25519 signature does not verify")
    header = PatchHeader(PatchKind(kind), spacecraft, sequence, base, result, patch_sha, body_bytes, content_bytes)
    if header.kind is PatchKind.WHOLE and base != ZERO_DIGEST:
        return PatchRejected(RejectReason.MALFORMED, "a whole patch names no base")
    return header


def body_of(raw: bytes) -> bytes:
    return bytes(raw[HEADER_LEN + SIGNATURE_LEN :])


def decompress_body(header: PatchHeader, body: bytes) -> bytes | PatchRejected:
    """Bounded zstd decompression: never more than the signed content size (+1 to detect more)."""
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(body)
        content = reader.read(header.content_bytes + 1)
        while len(content) <= header.content_bytes:  # stream_reader may return short reads
            more = reader.read(header.content_bytes + 1 - len(content))
            if not more:
                break
            content += more
    except zstandard.ZstdError as exc:
        return PatchRejected(RejectReason.MALFORMED, f"zstd: {str(exc)[:80]}")
    if len(content) > header.content_bytes:
        return PatchRejected(RejectReason.OVERSIZED, f"body decompresses beyond its {header.content_bytes} bytes")
    if len(content) != header.content_bytes:
        return PatchRejected(RejectReason.MALFORMED, f"body decompresses to {len(content)} bytes, header says {header.content_bytes}")
    return content


def decode_patch(raw: bytes, public_key: Ed25519PublicKey | None, spacecraft: int | None = None,
                 max_patch_bytes: int = MAX_PATCH_BYTES,
                 max_content_bytes: int = MAX_CONTENT_BYTES) -> Patch | PatchRejected:
    """Decode and authenticate a whole patch in one call; never raises on bad bytes.

    Checks, in order: size, header, signature, spacecraft, body sha256, bounded decompression,
    content. Sequence, base and result need onboard state: `UplinkReceiver` checks them."""
    header = decode_header(raw, public_key, max_patch_bytes, max_content_bytes)
    if isinstance(header, PatchRejected):
        return header
    if spacecraft is not None and header.spacecraft != spacecraft:
        return PatchRejected(RejectReason.WRONG_SPACECRAFT, f"signed for spacecraft {header.spacecraft}, this is {spacecraft}")
    body = body_of(raw)
    if hashlib.sha256(body).digest() != header.patch_sha256:
        return PatchRejected(RejectReason.BODY_MISMATCH, "body sha256 differs from the signed patch sha256")
    return decode_body(header, body, len(raw))


def decode_body(header: PatchHeader, body: bytes, raw_bytes: int) -> Patch | PatchRejected:
    content = decompress_body(header, body)
    if isinstance(content, PatchRejected):
        return content
    try:
        files = decode_content(content)
    except PatchRejected as exc:
        return exc
    if header.kind is PatchKind.WHOLE and not all(f.is_whole for f in files):
        return PatchRejected(RejectReason.MALFORMED, "a whole patch carries a XOR file")
    return Patch(header, files, raw_bytes)
