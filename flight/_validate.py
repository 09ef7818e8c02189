"""Input validation: the sensor frame is checked against the manifest before any replica runs."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._errors import InputRejected
from ._manifest import IOSpec


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
        if str(arr.dtype) != spec.dtype:
            raise InputRejected(f"input {spec.name}: dtype {arr.dtype} != {spec.dtype}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise InputRejected(f"input {spec.name}: contains NaN or infinity")
        if spec.range is not None and arr.size and (arr.min() < spec.range[0] or arr.max() > spec.range[1]):
            raise InputRejected(f"input {spec.name}: outside [{spec.range[0]:g}, {spec.range[1]:g}]")
        frame.append(arr)
    return frame
