"""Checks on values at the edges of the engine: sensor frames going in, voted outputs going out.

Both run every cycle, so they are written for small arrays: one pass that finds NaN, infinities and
the bounds together (a plain Python pass beats three numpy reductions below ~64 elements).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .._errors import InputRejected
from ..storage._manifest import SUPPORTED_DTYPES, IOSpec

_DTYPES = {name: np.dtype(name) for name in SUPPORTED_DTYPES}
_SMALL = 64


def finite_bounds(arr: np.ndarray) -> tuple[bool, float, float]:
    """(all finite, min, max) of a non-empty array; min/max are meaningless when not finite."""
    if arr.size <= _SMALL:
        values = arr.ravel().tolist()
        if arr.dtype.kind == "f" and not all(map(math.isfinite, values)):
            return False, 0.0, 0.0
        return True, min(values), max(values)
    lo, hi = arr.min(), arr.max()  # NaN and inf propagate into min or max
    return bool(np.isfinite(lo) and np.isfinite(hi)), float(lo), float(hi)


def validate_inputs(inputs: Sequence[np.ndarray], specs: Sequence[IOSpec]) -> list[np.ndarray]:
    """Check a frame against the input specs; raise InputRejected naming the input and problem."""
    if len(inputs) != len(specs):
        raise InputRejected(f"expected {len(specs)} inputs, got {len(inputs)}")
    frame = []
    for spec, arr in zip(specs, inputs):
        if not isinstance(arr, np.ndarray):
            raise InputRejected(f"input {spec.name}: not an array")
        if arr.shape != spec.shape:
            raise InputRejected(f"input {spec.name}: shape {list(arr.shape)} != {list(spec.shape)}")
        if arr.dtype != _DTYPES[spec.dtype]:
            raise InputRejected(f"input {spec.name}: dtype {arr.dtype} != {spec.dtype}")
        if arr.size:
            finite, lo, hi = finite_bounds(arr)
            if not finite:
                raise InputRejected(f"input {spec.name}: contains NaN or infinity")
            if spec.range is not None and (lo < spec.range[0] or hi > spec.range[1]):
                raise InputRejected(f"input {spec.name}: outside [{spec.range[0]:g}, {spec.range[1]:g}]")
        frame.append(arr)
    return frame


def check_valid(outputs: Sequence[np.ndarray], specs: Sequence[IOSpec] | None) -> str:
    """'' if every output is finite and in range, else the reason naming the output."""
    for i, arr in enumerate(outputs):
        if not arr.size:
            continue
        name = specs[i].name if specs else f"output[{i}]"
        finite, lo, hi = finite_bounds(arr)
        if not finite:
            return f"{name} is not finite"
        rng = specs[i].range if specs else None
        if rng is not None and (lo < rng[0] or hi > rng[1]):
            return f"{name} outside [{rng[0]:g}, {rng[1]:g}]"
    return ""
