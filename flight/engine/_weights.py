"""WeightImage: the replica-owned memory that onnxruntime computes from.

Responsibility: hold one replica's copy of every live (float) initializer in one contiguous,
64-byte-aligned buffer; hand out numpy views of it to the session (`add_initializer` wraps them,
so a flip here is a flip in what the model computes); check any chunk, tensor or the whole image
against the ground's CRC-32C references from the manifest.

Layout: tensors in manifest order, each starting on a 64-byte boundary; each tensor is cut into
`chunk_size` chunks that never span tensors. The chunk is the unit of scrubbing and repair.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .._crc import crc32c
from .._errors import ModelCorrupted
from ..storage._manifest import Manifest, chunk_spans

ALIGN = 64
PARALLEL_VERIFY_BYTES = 8 << 20  # from here a full verification is split over two threads
_POOL: ThreadPoolExecutor | None = None


def _verify_pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(1, thread_name_prefix="verify")
    return _POOL


@dataclass(frozen=True)
class Chunk:
    """One scrub unit: a slice of one tensor, with its reference CRC from the ground."""

    index: int  # position in the image's chunk list
    tensor: str
    tensor_chunk: int  # position within its tensor (what the manifest and error messages name)
    offset: int  # byte offset in the image
    length: int
    crc: int


@dataclass(frozen=True)
class BitUndo:
    """What a bit write found: one element's original bytes, to restore it exactly."""

    tensor: str
    offset: int  # image byte offset of the element
    original: bytes


@dataclass(frozen=True)
class TensorSlot:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    crc: int  # the whole tensor's reference CRC-32C


@dataclass(frozen=True)
class ImageLayout:
    """Where each live tensor and chunk sits in an image; identical for all replicas of a model."""

    tensors: tuple[TensorSlot, ...]
    chunks: tuple[Chunk, ...]
    size: int

    @classmethod
    def from_manifest(cls, manifest: Manifest) -> "ImageLayout":
        offset = 0
        slots: list[TensorSlot] = []
        chunks: list[Chunk] = []
        for rec in manifest.live_tensors:
            offset = -(-offset // ALIGN) * ALIGN
            slots.append(TensorSlot(rec.name, np.dtype(rec.dtype), rec.shape, offset, rec.nbytes, rec.crc32c))
            for j, ((start, length), ref) in enumerate(zip(chunk_spans(rec.nbytes, manifest.chunk_size), rec.chunks)):
                chunks.append(Chunk(len(chunks), rec.name, j, offset + start, length, ref))
            offset += rec.nbytes
        return cls(tuple(slots), tuple(chunks), -(-offset // ALIGN) * ALIGN)

    def slot(self, name: str) -> TensorSlot:
        for s in self.tensors:
            if s.name == name:
                return s
        raise KeyError(name)


class WeightImage:
    """One replica's live weights. Mutating `buffer` mutates what the replica computes."""

    def __init__(self, layout: ImageLayout, tensors: dict[str, np.ndarray]):
        self.layout = layout
        raw = np.zeros(layout.size + ALIGN, dtype=np.uint8)
        start = (-raw.ctypes.data) % ALIGN
        self.buffer: np.ndarray = raw[start : start + layout.size]
        self.arrays: dict[str, np.ndarray] = {}
        for slot in layout.tensors:
            view = self.buffer[slot.offset : slot.offset + slot.nbytes].view(slot.dtype).reshape(slot.shape)
            src = tensors[slot.name]
            if src.dtype != slot.dtype or src.shape != slot.shape:
                raise ModelCorrupted(
                    f"tensor {slot.name}: {src.dtype}{list(src.shape)} disagrees with manifest "
                    f"{slot.dtype}{list(slot.shape)}"
                )
            view[...] = src
            self.arrays[slot.name] = view

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.layout.tensors)

    def chunk_bytes(self, chunk: Chunk) -> np.ndarray:
        """A writable uint8 view of one chunk."""
        return self.buffer[chunk.offset : chunk.offset + chunk.length]

    def chunk_ok(self, chunk: Chunk) -> bool:
        return crc32c(self.chunk_bytes(chunk)) == chunk.crc

    def bad_chunks(self) -> list[Chunk]:
        """Every chunk whose CRC disagrees with the ground reference (a full verification).

        Small images: each tensor is checked whole first (one long CRC is the cheapest pass) and
        only a tensor that fails is walked chunk by chunk. Large images: the chunks are split over
        two threads (crc32c releases the GIL), which brings a full check under one memcpy."""
        if self.nbytes >= PARALLEL_VERIFY_BYTES:
            chunks = self.layout.chunks
            half = len(chunks) // 2
            other = _verify_pool().submit(self._failing, chunks[half:])
            return self._failing(chunks[:half]) + other.result()
        bad = []
        for slot in self.layout.tensors:
            if crc32c(self.buffer[slot.offset : slot.offset + slot.nbytes]) != slot.crc:
                bad.extend(self._failing(c for c in self.layout.chunks if c.tensor == slot.name))
        return bad

    def _failing(self, chunks) -> list[Chunk]:
        return [c for c in chunks if not self.chunk_ok(c)]

    def element_offset(self, tensor: str, element: int) -> int:
        """The image byte offset of one element; ValueError naming the bound it breaks."""
        try:
            slot = self.layout.slot(tensor)
        except KeyError:
            names = ", ".join(s.name for s in self.layout.tensors)
            raise ValueError(f"tensor {tensor!r} is not a live tensor of this image (one of {names})") from None
        n = slot.nbytes // slot.dtype.itemsize
        if not 0 <= element < n:
            raise ValueError(f"element {element} out of range for {tensor} ({n} elements)")
        return slot.offset + element * slot.dtype.itemsize

    def element_at(self, offset: int) -> tuple[str, int]:
        """(tensor, element) holding image byte `offset` (alignment padding belongs to no tensor)."""
        for slot in self.layout.tensors:
            if slot.offset <= offset < slot.offset + slot.nbytes:
                return slot.name, (offset - slot.offset) // slot.dtype.itemsize
        raise ValueError(f"byte offset {offset} is in no tensor (image of {self.layout.size} bytes)")

    def set_bit(self, tensor: str, element: int, bit: int, value: int) -> "BitUndo":
        """Force one bit of one element to `value` (a stuck-at fault); return how to undo it exactly."""
        if value not in (0, 1):
            raise ValueError(f"bit value must be 0 or 1, got {value!r}")
        index, mask, undo = self._bit(tensor, element, bit)
        if value:
            self.buffer[index] |= mask
        else:
            self.buffer[index] &= np.uint8(0xFF ^ mask)
        return undo

    def flip_bit(self, tensor: str, element: int, bit: int) -> "BitUndo":
        """XOR one bit of one element (the single-event upset); return how to undo it exactly."""
        index, mask, undo = self._bit(tensor, element, bit)
        self.buffer[index] ^= mask
        return undo

    def undo(self, record: "BitUndo") -> None:
        """Put back the bytes a `set_bit`/`flip_bit` found (whatever happened to them since)."""
        slot = self.layout.slot(record.tensor)
        end = record.offset + len(record.original)
        if not slot.offset <= record.offset < end <= slot.offset + slot.nbytes:
            raise ValueError(f"undo record for {record.tensor} at byte {record.offset} lies outside that tensor")
        self.buffer[record.offset : end] = np.frombuffer(record.original, np.uint8)

    def _bit(self, tensor: str, element: int, bit: int) -> tuple[int, np.uint8, "BitUndo"]:
        offset = self.element_offset(tensor, element)
        itemsize = self.layout.slot(tensor).dtype.itemsize
        if not 0 <= bit < 8 * itemsize:
            raise ValueError(f"bit {bit} out of range for {self.layout.slot(tensor).dtype} (bits 0..{8 * itemsize - 1})")
        undo = BitUndo(tensor, offset, self.buffer[offset : offset + itemsize].tobytes())
        # Little-endian: bit b of an element lives in byte b // 8 of that element.
        return offset + bit // 8, np.uint8(1 << (bit % 8)), undo

    def chunk_of(self, tensor: str, element: int) -> Chunk:
        slot = self.layout.slot(tensor)
        offset = slot.offset + element * slot.dtype.itemsize
        for c in self.layout.chunks:
            if c.tensor == tensor and c.offset <= offset < c.offset + c.length:
                return c
        raise KeyError((tensor, element))


def majority_bytes(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Bitwise 2-of-3 majority of three equal-length byte arrays (a new array)."""
    return (a & (b | c)) | (b & c)


def majority_repair(images: list[np.ndarray], block: int = 64 * 1024) -> int:
    """Repair three equal-length byte buffers in place by bitwise majority; return blocks fixed.

    Blocks where all three agree are skipped (the common case), which is what makes a whole-image
    repair cheaper than three memcpys.
    """
    a, b, c = images
    if not (a.nbytes == b.nbytes == c.nbytes):
        raise ValueError("images differ in size")
    fixed = 0
    for start in range(0, a.nbytes, block):
        end = min(start + block, a.nbytes)
        xa, xb, xc = a[start:end], b[start:end], c[start:end]
        if (end - start) % 8 == 0:
            va, vb, vc = xa.view(np.uint64), xb.view(np.uint64), xc.view(np.uint64)
        else:
            va, vb, vc = xa, xb, xc
        ab = np.array_equal(va, vb)
        if ab and np.array_equal(va, vc):
            continue
        fixed += 1
        # When two blocks agree the third is simply overwritten (the usual single upset).
        if ab:
            vc[...] = va
        elif np.array_equal(va, vc):
            vb[...] = va
        elif np.array_equal(vb, vc):
            va[...] = vb
        else:
            m = majority_bytes(va, vb, vc)
            va[...] = m
            vb[...] = m
            vc[...] = m
    return fixed
