"""Fault models as records, and the one place faults are applied to memory and undone.

A fault is a `FaultRecord`: the trial's seed, the target, the fault model, the cycle, and its hits
(replica, tensor, element, bit, operation). Records are plain data (JSON in and out), so a trial
replays bit-exactly with `fault-inject replay`.

Fault models (`sample_fault`):
- `single`: one bit, uniform over every bit of the target;
- `mbu`: adjacent bits in memory (multiplicity 1-8 by default, any `max_bits` for stress cases);
  adjacent means adjacent in the little-endian bit order of the tensor, so it may cross a word;
- `stuck-at-0` / `stuck-at-1`: one bit forced to a value (a no-op where it already holds it);
- `burst`: the same bit in `max_bits` neighbouring words;
Targets: `weights` (a replica's live image), `input` (the frame after its CRC was taken, before
fan-out), `input-before-crc` (the frame before capture), `output` (a replica's output buffer during
computation), `model-file` (a byte of a stored model file; the hit's tensor is the file name), and
for mission campaigns `state` (executive state: a scrubber reference CRC or a counter).

- `pair`: one bit in each of two different replicas (the case a vote alone cannot always settle);
  with `same_element` both hits land in one element, which is where two wrong replicas can agree.

`apply_hits` / `undo` are the only code that writes a fault into memory: when `WeightImage` grows
`flip_bit`/`set_bit` with an undo record, only these two functions change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, Sequence

import numpy as np

FAULT_MODELS = ("single", "mbu", "stuck-at-0", "stuck-at-1", "burst", "pair")
TARGETS = ("weights", "input", "input-before-crc", "output", "model-file", "state")
MISSION_TARGETS = ("weights", "state")
OPS = ("flip", "set0", "set1")


class Hit(NamedTuple):
    """One bit changed: in `replica`'s copy of `tensor` (for input/output targets the tensor is the
    I/O name and `replica` is -1 for the shared frame). A named tuple: trials make one per fault, and
    a frozen dataclass costs several times more to build."""

    replica: int
    tensor: str
    element: int
    bit: int
    op: str = "flip"


@dataclass(frozen=True)
class FaultRecord:
    """Everything needed to repeat one trial bit for bit."""

    seed: int
    target: str
    model: str
    hits: tuple[Hit, ...]
    vector: int = 0  # golden input vector the decision runs on (inference trials)
    cycle: int = 0  # mission cycle at which it strikes (0 for inference trials)
    mode: str = ""
    outcome: str = ""  # the classification when it was recorded
    output_sha256: str = ""  # of the emitted output ("" when none was emitted)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hits"] = [h._asdict() for h in self.hits]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FaultRecord":
        hits = tuple(Hit(**h) for h in d["hits"])
        return cls(**{**d, "hits": hits})


@dataclass(frozen=True)
class TensorInfo:
    """What sampling needs to know of one target tensor: its name, element count and width."""

    name: str
    elements: int
    itemsize: int

    @property
    def bits(self) -> int:
        return self.elements * self.itemsize * 8


def tensors_of(image: Any) -> tuple[TensorInfo, ...]:
    """The live tensors of a WeightImage, in layout order."""
    return tuple(TensorInfo(s.name, s.nbytes // s.dtype.itemsize, s.dtype.itemsize) for s in image.layout.tensors)


def _pick_bit(rng: np.random.Generator, tensors: Sequence[TensorInfo], cum: np.ndarray) -> tuple[TensorInfo, int]:
    """A bit uniformly over all bits of all tensors: (tensor, bit index within the tensor)."""
    g = int(rng.integers(0, int(cum[-1])))
    t = int(np.searchsorted(cum, g, side="right"))
    start = int(cum[t - 1]) if t else 0
    return tensors[t], g - start


def sample_fault(rng: np.random.Generator, seed: int, model: str, target: str, tensors: Sequence[TensorInfo],
                 replicas: int = 3, max_bits: int = 8, same_element: bool = False, vector: int = 0,
                 cum: np.ndarray | None = None) -> FaultRecord:
    """Draw one fault of `model` on `target` (replica drawn among `replicas`, -1 for the shared input)."""
    if cum is None:
        cum = np.cumsum([t.bits for t in tensors])
    shared = target in ("input", "input-before-crc", "model-file")
    replica = -1 if shared else int(rng.integers(0, replicas))
    info, gbit = _pick_bit(rng, tensors, cum)
    width = info.itemsize * 8
    hits: list[Hit] = []
    if model == "single":
        hits.append(Hit(replica, info.name, gbit // width, gbit % width))
    elif model in ("stuck-at-0", "stuck-at-1"):
        hits.append(Hit(replica, info.name, gbit // width, gbit % width, "set0" if model == "stuck-at-0" else "set1"))
    elif model == "mbu":
        k = int(rng.integers(1, max_bits + 1))
        for b in range(gbit, min(gbit + k, info.bits)):
            hits.append(Hit(replica, info.name, b // width, b % width))
    elif model == "burst":
        k = int(rng.integers(1, max_bits + 1))
        element, bit = gbit // width, gbit % width
        for e in range(element, min(element + k, info.elements)):
            hits.append(Hit(replica, info.name, e, bit))
    elif model == "pair":
        if shared or replicas < 2:
            hits.append(Hit(replica, info.name, gbit // width, gbit % width))
            other_replica = replica
        else:
            other_replica = (replica + 1 + int(rng.integers(0, replicas - 1))) % replicas
            hits.append(Hit(replica, info.name, gbit // width, gbit % width))
        if same_element:
            bit2 = int(rng.integers(0, width - 1))
            bit2 += bit2 >= gbit % width  # a different bit of the same element
            hits.append(Hit(other_replica, info.name, gbit // width, bit2))
        else:
            info2, g2 = _pick_bit(rng, tensors, cum)
            hits.append(Hit(other_replica, info2.name, g2 // (info2.itemsize * 8), g2 % (info2.itemsize * 8)))
    else:
        raise ValueError(f"unknown fault model {model!r} (one of {', '.join(FAULT_MODELS)})")
    return FaultRecord(seed, target, model, tuple(hits), vector)


def sample_hits_batch(rng: np.random.Generator, model: str, target: str, tensors: Sequence[TensorInfo],
                      cum: np.ndarray, count: int, replicas: int = 3, max_bits: int = 8,
                      same_element: bool = False) -> list[tuple[Hit, ...]]:
    """`count` faults' hits at once. Single-hit models are drawn as arrays (a scalar numpy draw
    costs about a microsecond, and a trial is tens of them); the others one by one."""
    if model not in ("single", "stuck-at-0", "stuck-at-1"):
        return [sample_fault(rng, 0, model, target, tensors, replicas, max_bits, same_element, 0, cum).hits
                for _ in range(count)]
    shared = target in ("input", "input-before-crc", "model-file")
    reps = np.full(count, -1) if shared else rng.integers(0, replicas, size=count)
    g = rng.integers(0, int(cum[-1]), size=count)
    t = np.searchsorted(cum, g, side="right")
    starts = np.concatenate(([0], cum[:-1]))
    local = g - starts[t]
    widths = np.array([x.itemsize * 8 for x in tensors])[t]
    elements, bits = local // widths, local % widths
    names = [x.name for x in tensors]
    op = {"single": "flip", "stuck-at-0": "set0", "stuck-at-1": "set1"}[model]
    return [(Hit(r, names[ti], e, b, op),) for r, ti, e, b in
            zip(reps.tolist(), t.tolist(), elements.tolist(), bits.tolist())]


# --- the one place faults touch memory --------------------------------------------------------


def hit_location(buffers: dict[tuple[int, str], tuple[np.ndarray, int, int]], hit: Hit) -> tuple[np.ndarray, int, int]:
    """(byte buffer, byte index, bit mask) of a hit, given each (replica, tensor)'s (buffer, offset, itemsize)."""
    buffer, offset, itemsize = buffers[(hit.replica, hit.tensor)]
    return buffer, offset + hit.element * itemsize + hit.bit // 8, 1 << (hit.bit % 8)


def apply_hits(buffers: dict[tuple[int, str], tuple[np.ndarray, int, int]], hits: Sequence[Hit]) -> list:
    """Write the hits into memory; return the undo record (every byte touched, as it was)."""
    undo: list[tuple[np.ndarray, int, int]] = []
    for hit in hits:
        buffer, index, mask = hit_location(buffers, hit)
        old = int(buffer[index])
        undo.append((buffer, index, old))
        if hit.op == "flip":
            buffer[index] = old ^ mask
        elif hit.op == "set1":
            buffer[index] = old | mask
        else:
            buffer[index] = old & (0xFF ^ mask)
    return undo


def undo(record: list) -> None:
    """Put back every byte an `apply_hits` touched, last first (so overlapping hits unwind)."""
    for buffer, index, old in reversed(record):
        buffer[index] = old


def image_buffers(replicas: Sequence[Any]) -> dict[tuple[int, str], tuple[np.ndarray, int, int]]:
    """Where each replica's tensors sit: (replica position, tensor) -> (image buffer, offset, itemsize)."""
    out = {}
    for pos, replica in enumerate(replicas):
        image = replica.image
        for s in image.layout.tensors:
            out[(pos, s.name)] = (image.buffer, s.offset, s.dtype.itemsize)
    return out


def array_buffers(key_replica: int, arrays: dict[str, np.ndarray]) -> dict[tuple[int, str], tuple[np.ndarray, int, int]]:
    """The same map over plain arrays (an input frame, a replica's outputs): byte views at offset 0."""
    return {(key_replica, name): (a.reshape(-1).view(np.uint8), 0, a.dtype.itemsize) for name, a in arrays.items()}
