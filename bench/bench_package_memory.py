"""Peak memory of `ground package` against the model's size and a plain onnxruntime session.

Builds a large MLP (float32 Gemm layers; ~300 MB by default), then, each in a fresh subprocess so
the peaks do not mix, measures the peak resident set (ru_maxrss) of:
  - baseline: python + numpy + onnx + onnxruntime imported, nothing loaded;
  - plain:    one default onnxruntime session on the model and one run (what any user of ORT pays);
  - package:  `ground package` on the model (2 golden vectors).
Prints each peak above the baseline as a multiple of the model's size and of the plain session's.

    python bench/bench_package_memory.py [--mb 300] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _models import REPO

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PROBE = r"""
import resource, sys
sys.path.insert(0, {repo!r})
import numpy, onnx, onnxruntime
mode, src, out = sys.argv[1:4]
if mode == "plain":
    s = onnxruntime.InferenceSession(src, providers=["CPUExecutionProvider"])
    i = s.get_inputs()[0]
    s.run(None, {{i.name: numpy.zeros([1, i.shape[1]], numpy.float32)}})
elif mode == "package":
    from ground._package import package_model
    package_model(src, out, golden_count=2)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def build(path: Path, mb: int, width: int = 4096) -> int:
    """An MLP of float32 width x width layers totalling about `mb` MB; returns the file's bytes."""
    layers = max(1, round(mb * 2**20 / (width * width * 4)))
    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    for k in range(layers):
        w = (rng.standard_normal((width, width), dtype=np.float32) / np.sqrt(width)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(np.zeros(width, np.float32), f"b{k}")]
        nodes.append(helper.make_node("Gemm", [prev, f"w{k}", f"b{k}"], [f"h{k}"]))
        nodes.append(helper.make_node("Tanh", [f"h{k}"], [f"a{k}"]))
        prev = f"a{k}"
    graph = helper.make_graph(nodes, "big", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, path)
    return path.stat().st_size


def peak(mode: str, src: Path, out: Path) -> int:
    code = PROBE.format(repo=str(REPO))
    r = subprocess.run([sys.executable, "-c", code, mode, str(src), str(out)], capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    if r.returncode != 0:
        raise SystemExit(f"{mode} failed: {r.stderr.strip().splitlines()[-1]}")
    return int(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=300, help="model size in MB (default 300)")
    ap.add_argument("--keep", type=Path, help="folder for the model and the package (default: a temp folder)")
    ap.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build_only:
        build(args.build_only, args.mb)
        return
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        src = work / "big.onnx"
        # Built in a child: Linux carries a parent's peak RSS across fork and exec into the probes.
        subprocess.run([sys.executable, __file__, "--build-only", str(src), "--mb", str(args.mb)], check=True)
        size = src.stat().st_size
        base = peak("baseline", src, work / "unused")
        plain = peak("plain", src, work / "unused") - base
        package = peak("package", src, work / "packaged") - base
        mib = 2**20
        print(f"model file {size / mib:.0f} MiB; baseline process {base / mib:.0f} MiB (imports)")
        print(f"plain onnxruntime session + 1 run: peak +{plain / mib:.0f} MiB = {plain / size:.2f}x the model")
        print(f"ground package:                    peak +{package / mib:.0f} MiB = {package / size:.2f}x the model, "
              f"{package / plain:.2f}x a plain session")


if __name__ == "__main__":
    main()
