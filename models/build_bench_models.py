"""Generate benchmark models with seeded random weights: MLP and CNN at about 1e5, 1e6, 1e7 parameters.

Why random weights: the benchmarks measure cost (TMR, voting, scrubbing, live-weight sessions)
against plain onnxruntime, which depends on shapes and operators, not on what the weights learned.
The models are built on demand rather than committed (the 1e7 ones are about 40 MB each).

He-initialised weights keep activations of order one through every layer, so outputs are finite
and not saturated; the last layer is scaled down so logits stay moderate.

    mlp: x [1,256] -> (Gemm transB=1 -> Relu) x3 (width w) -> Gemm -> logits [1,10]
    cnn: image [1,3,64,64] -> 4 x (Conv 3x3 pad 1 -> BatchNormalization -> Relu -> MaxPool 2), channels
         c, 2c, 4c, 8c -> Reshape [1, 8c*16] (int64 shape) -> Gemm transB=1 -> logits [1,10]
The width w (or c) is the integer that brings the parameter count closest to the requested size.

Usage: python models/build_bench_models.py --out DIR [--sizes 1e5,1e6,1e7] [--kinds mlp,cnn] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
MLP_IN = 256
MLP_HIDDEN_LAYERS = 3
CNN_INPUT = (1, 3, 64, 64)
N_OUT = 10
KINDS = ("mlp", "cnn")


def mlp_params(w: int) -> int:
    sizes = [MLP_IN] + [w] * MLP_HIDDEN_LAYERS + [N_OUT]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def cnn_params(c: int) -> int:
    chans = [CNN_INPUT[1], c, 2 * c, 4 * c, 8 * c]
    conv = sum(9 * a * b + 4 * b for a, b in zip(chans[:-1], chans[1:]))  # weights + BN scale/B/mean/var
    flat = chans[-1] * (CNN_INPUT[2] // 16) * (CNN_INPUT[3] // 16)
    return conv + flat * N_OUT + N_OUT


def _width_for(kind: str, size: float) -> int:
    count = mlp_params if kind == "mlp" else cnn_params
    return min(range(1, 4096), key=lambda w: (abs(count(w) - size), w))


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, gain: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(gain * np.sqrt(2.0 / fan_in)))


def _finish(nodes: list, inits: list, name: str, inp: onnx.ValueInfoProto) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, [inp],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, N_OUT])],
                              initializer=inits)
    model = helper.make_model(graph, producer_name="seuguard.models.build_bench_models",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = f"benchmark model {name}: seeded random weights, not trained"
    return model


def _build_mlp(w: int, rng: np.random.Generator, name: str) -> onnx.ModelProto:
    sizes = [MLP_IN] + [w] * MLP_HIDDEN_LAYERS + [N_OUT]
    nodes, inits = [], []
    cur = "x"
    n_layers = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        last = i == n_layers
        inits += [numpy_helper.from_array(_he(rng, (b, a), a, 0.1 if last else 1.0), f"fc{i}.weight"),
                  numpy_helper.from_array(np.zeros(b, np.float32), f"fc{i}.bias")]
        out = "logits" if last else f"fc{i}.out"
        nodes.append(helper.make_node("Gemm", [cur, f"fc{i}.weight", f"fc{i}.bias"], [out], name=f"fc{i}",
                                      transB=1))
        if not last:
            cur = f"relu{i}.out"
            nodes.append(helper.make_node("Relu", [out], [cur], name=f"relu{i}"))
    return _finish(nodes, inits, name, helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, MLP_IN]))


def _build_cnn(c: int, rng: np.random.Generator, name: str) -> onnx.ModelProto:
    chans = [CNN_INPUT[1], c, 2 * c, 4 * c, 8 * c]
    nodes, inits = [], []
    cur = "image"
    for i, (a, b) in enumerate(zip(chans[:-1], chans[1:]), start=1):
        # BN statistics near identity but not exactly, so the fused weights differ from the raw ones.
        bn = {"scale": rng.uniform(0.8, 1.2, b), "bias": rng.normal(0.0, 0.05, b),
              "mean": rng.normal(0.0, 0.05, b), "var": rng.uniform(0.8, 1.2, b)}
        inits.append(numpy_helper.from_array(_he(rng, (b, a, 3, 3), 9 * a), f"conv{i}.weight"))
        inits += [numpy_helper.from_array(v.astype(np.float32), f"bn{i}.{k}") for k, v in bn.items()]
        nodes += [
            helper.make_node("Conv", [cur, f"conv{i}.weight"], [f"conv{i}.out"], name=f"conv{i}",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", [f"conv{i}.out"] + [f"bn{i}.{k}" for k in bn],
                             [f"bn{i}.out"], name=f"bn{i}", epsilon=1e-5),
            helper.make_node("Relu", [f"bn{i}.out"], [f"relu{i}.out"], name=f"relu{i}"),
            helper.make_node("MaxPool", [f"relu{i}.out"], [f"pool{i}.out"], name=f"pool{i}",
                             kernel_shape=[2, 2], strides=[2, 2]),
        ]
        cur = f"pool{i}.out"
    flat = chans[-1] * (CNN_INPUT[2] // 16) * (CNN_INPUT[3] // 16)
    inits += [numpy_helper.from_array(np.array([1, flat], np.int64), "flatten.shape"),
              numpy_helper.from_array(_he(rng, (N_OUT, flat), flat, 0.1), "fc.weight"),
              numpy_helper.from_array(np.zeros(N_OUT, np.float32), "fc.bias")]
    nodes += [helper.make_node("Reshape", [cur, "flatten.shape"], ["flatten.out"], name="flatten"),
              helper.make_node("Gemm", ["flatten.out", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1)]
    return _finish(nodes, inits, name,
                   helper.make_tensor_value_info("image", TensorProto.FLOAT, list(CNN_INPUT)))


def size_tag(size: float) -> str:
    """1e5 -> "1e5": the file-name form of a size."""
    exp = int(round(np.log10(size)))
    return f"1e{exp}" if 10 ** exp == size else f"{int(size)}"


def build(kind: str, size: float, seed: int = 0) -> onnx.ModelProto:
    """Benchmark model ``bench-<kind>-<size>`` with about ``size`` parameters, weights from ``seed``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    width = _width_for(kind, float(size))
    rng = np.random.default_rng([seed, KINDS.index(kind), int(round(np.log10(float(size)) * 1000))])
    name = f"bench-{kind}-{size_tag(float(size))}"
    model = (_build_mlp if kind == "mlp" else _build_cnn)(width, rng, name)
    onnx.checker.check_model(model)
    return model


def param_count(model: onnx.ModelProto) -> int:
    """Float parameters in the model's initializers (integer shape tensors excluded)."""
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT)


def _check(model: onnx.ModelProto, seed: int) -> tuple[float, float]:
    """One batch-1 run under the flight configuration: (max |output|, milliseconds)."""
    repo = Path(__file__).resolve().parent.parent
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    import onnxruntime as ort

    from flight.engine._session import PROVIDERS, flight_session_options

    sess = ort.InferenceSession(model.SerializeToString(), flight_session_options(), providers=PROVIDERS)
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(seed).standard_normal(inp.shape, dtype=np.float32)
    sess.run(None, {inp.name: x})
    t0 = time.perf_counter()
    out = sess.run(None, {inp.name: x})[0]
    ms = (time.perf_counter() - t0) * 1e3
    if not np.all(np.isfinite(out)):
        raise RuntimeError(f"{model.graph.name}: non-finite output")
    return float(np.abs(out).max()), ms


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--sizes", default="1e5,1e6,1e7", help="comma-separated parameter counts")
    ap.add_argument("--kinds", default="mlp,cnn", help="comma-separated: mlp,cnn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-check", action="store_true", help="skip the flight-config smoke run")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in args.kinds.split(","):
        for size in (float(s) for s in args.sizes.split(",")):
            t0 = time.perf_counter()
            model = build(kind.strip(), size, args.seed)
            path = args.out / f"{model.graph.name}.onnx"
            onnx.save_model(model, str(path))
            line = f"{path}: {param_count(model):,} parameters, built in {time.perf_counter() - t0:.1f} s"
            if not args.no_check:
                peak, ms = _check(model, args.seed)
                line += f"; flight-config run {ms:.2f} ms, max |logit| {peak:.3g}"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
