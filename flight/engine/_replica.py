"""Replica: one onnxruntime session computing from one WeightImage.

Responsibility: build a session under the flight configuration with every live tensor passed by
`add_initializer` from the replica's own image, bind fixed input and output buffers with IOBinding
(half the per-call overhead of `session.run`), and run. Also the boot self-tests that prove the
configuration really does what we rely on: golden vectors reproduce bit for bit, and every live
tensor is live (a flip moves the output; flipping back restores it exactly).
"""

from __future__ import annotations

import time

from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from .._errors import InputRejected, ModelCorrupted
from ..storage._manifest import IOSpec
from ._session import PROVIDERS, flight_session_options
from ..storage._model import StoredModel
from ._validate import check_valid, validate_inputs
from ._weights import ImageLayout, WeightImage


class Replica:
    """One of the redundant copies: its own image, session, and input and output buffers."""

    def __init__(self, index: int, model: StoredModel, image: WeightImage | None = None):
        self.index = index
        self.model = model
        manifest = model.manifest
        self.image = image if image is not None else WeightImage(ImageLayout.from_manifest(manifest), model.tensors)
        opts = flight_session_options()
        # The OrtValues wrap the image's memory; they must live as long as the session.
        self._ort_values = {}
        for name, arr in self.image.arrays.items():
            value = ort.OrtValue.ortvalue_from_numpy(arr)
            self._ort_values[name] = value
            opts.add_initializer(name, value)
        try:
            self.session = ort.InferenceSession(model.flight_graph, opts, providers=PROVIDERS)
        except Exception as exc:  # onnxruntime raises several unrelated types for a bad graph
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise ModelCorrupted(f"{model.model_path}: onnxruntime refused the graph: {first[:200]}") from None
        self.inputs: list[np.ndarray] = [np.zeros(s.shape, s.dtype) for s in manifest.inputs]
        self.outputs: list[np.ndarray] = [np.zeros(s.shape, s.dtype) for s in manifest.outputs]
        self.run_options = ort.RunOptions()  # the watchdog sets .terminate on an overdue run
        # Without this entry, onnxruntime 1.32's Python wrapper looks it up on every run and pays for
        # a raised-and-caught exception (measured: ~50 us per run, more than the lander's inference).
        # -1 means "no graph capture", which is what a CPU session does anyway.
        self.run_options.add_run_config_entry("gpu_graph_id", "-1")
        self._binding = self.session.io_binding()
        for spec, buf in zip(manifest.inputs, self.inputs):
            self._bind(self._binding.bind_input, spec, buf)
        for spec, buf in zip(manifest.outputs, self.outputs):
            self._bind(self._binding.bind_output, spec, buf)
        # The C++ entry points, looked up once: the public wrapper adds ~3 us of Python per run,
        # a tenth of a lander TMR decision. Private to onnxruntime, hence the exact version pin;
        # tests check that outputs and the watchdog's terminate still work through them.
        self._run_bound = self.session._sess.run_with_iobinding
        self._bound = self._binding._iobinding

    @staticmethod
    def _bind(bind, spec: IOSpec, buf: np.ndarray) -> None:
        bind(spec.name, "cpu", 0, buf.dtype, list(buf.shape), buf.ctypes.data)

    def load(self, inputs: list[np.ndarray]) -> None:
        """Copy the inputs into this replica's own buffers (its fan-out copy)."""
        for buf, arr in zip(self.inputs, inputs):
            np.copyto(buf, arr)

    def compute(self) -> list[np.ndarray]:
        """Compute on the loaded inputs; returns this replica's output buffers (overwritten by the
        next run: copy what you keep). Raises if the watchdog terminated the run."""
        self._run_bound(self._bound, self.run_options)
        return self.outputs

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self.load(inputs)
        return self.compute()

    def run_copy(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        return [o.copy() for o in self.run(inputs)]


def check_golden(replica: Replica) -> None:
    """Run every golden vector; raise ModelCorrupted naming the first output that differs.

    The golden vectors must also be valid under the manifest's specs: a model whose own reference
    outputs fall outside their declared range would have every vote refused in flight."""
    model = replica.model
    specs = model.manifest
    for i, (inputs, expected) in enumerate(zip(model.golden_inputs, model.golden_outputs)):
        try:
            validate_inputs(inputs, specs.inputs)
        except InputRejected as exc:
            raise ModelCorrupted(f"golden vector {i}: {exc}") from None
        reason = check_valid(expected, specs.outputs)
        if reason:
            raise ModelCorrupted(f"golden vector {i}: expected {reason}")
        got = replica.run(inputs)
        for spec, g, e in zip(model.manifest.outputs, got, expected):
            if g.tobytes() != np.ascontiguousarray(e).tobytes():
                diff = float(np.max(np.abs(g.astype(np.float64) - e.astype(np.float64))))
                raise ModelCorrupted(
                    f"golden vector {i}: output {spec.name} differs from the ground's (max |diff| {diff:.3g})"
                )


@dataclass(frozen=True)
class LivenessReport:
    live: tuple[str, ...]
    not_live: tuple[str, ...]  # a flip did not move the output, or flipping back did not restore it


def _exponent_high_bit_mask(dtype: np.dtype) -> tuple[np.dtype, int]:
    bits = dtype.itemsize * 8
    return np.dtype(f"uint{bits}"), 1 << (bits - 2)


def prove_liveness(replica: Replica, inputs: list[np.ndarray] | None = None) -> LivenessReport:
    """Flip the exponent's high bit of every element of each tensor in turn, run, check the output
    moved, flip back, check it is bit-exact again. (Flipping one element could be masked by a dead
    ReLU; the whole tensor cannot be.)"""
    if inputs is None:
        inputs = replica.model.golden_inputs[0]
    baseline = [o.tobytes() for o in replica.run(inputs)]
    live, not_live = [], []
    for name, arr in replica.image.arrays.items():
        if arr.size == 0 or arr.dtype.kind != "f":
            not_live.append(name)
            continue
        utype, mask = _exponent_high_bit_mask(arr.dtype)
        view = arr.reshape(-1).view(utype)
        view ^= utype.type(mask)
        moved = [o.tobytes() for o in replica.run(inputs)] != baseline
        view ^= utype.type(mask)
        restored = [o.tobytes() for o in replica.run(inputs)] == baseline
        (live if moved and restored else not_live).append(name)
    return LivenessReport(tuple(live), tuple(not_live))


def measure_inference_time(replica: Replica, inputs: list[np.ndarray], runs: int = 5) -> float:
    """Median wall time of one run; used only to choose the schedule, never for outputs."""
    replica.run(inputs)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        replica.run(inputs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
