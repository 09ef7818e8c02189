"""Derive a "fine-tuned" lander-discrete for uplink demos and tests: 10% of one layer changed.

Why a deterministic perturbation rather than a real fine-tune: the uplink cares about which bytes
change, not about what they learned; a seeded perturbation of 10% of `fc2.weight` (multiplied by
1 + 0.05 N(0,1)) is the DESIGN.md benchmark case ("10% of one layer fine-tuned"), rebuilds
bit-identically in a second, and keeps the policy close to the original.

The flight graph of models/lander-discrete is perturbed and packaged with the ground packaging API
exactly as models/build_all.py packages the landers (same world, ranges and golden inputs), as
version 1.1.0, sequence 2, into models/lander-discrete-ft/.

    python models/build_patch_demo.py [--base models/lander-discrete] [--out models/lander-discrete-ft]
                                      [--layer fc2.weight] [--fraction 0.1] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ground import package_model  # noqa: E402
from models.build_all import MODELS  # noqa: E402


def perturb(model: onnx.ModelProto, layer: str, fraction: float, rng: np.random.Generator) -> int:
    """Scale `fraction` of `layer`'s elements in place; returns how many changed."""
    for init in model.graph.initializer:
        if init.name == layer:
            arr = numpy_helper.to_array(init).copy()
            flat = arr.reshape(-1)
            idx = rng.choice(flat.size, size=max(1, int(round(fraction * flat.size))), replace=False)
            flat[idx] *= (1.0 + 0.05 * rng.standard_normal(idx.size)).astype(flat.dtype)
            init.CopyFrom(numpy_helper.from_array(arr, layer))
            return int(idx.size)
    raise SystemExit(f"build_patch_demo: no initializer {layer!r}")


def build(base: Path, out: Path, layer: str = "fc2.weight", fraction: float = 0.1, seed: int = 0,
          version: str = "1.1.0", sequence: int = 2) -> int:
    name = "lander-discrete"
    world, out_ranges, in_ranges = MODELS[name]
    model = onnx.load_model(base / "model.onnx")
    changed = perturb(model, layer, fraction, np.random.default_rng(seed))
    with np.load(base / "golden.npz") as g:
        golden = {"obs": g["input:obs"]}
    with tempfile.TemporaryDirectory() as tmp:
        src, gold = Path(tmp) / "ft.onnx", Path(tmp) / "golden-inputs.npz"
        onnx.save_model(model, src)
        np.savez(gold, **golden)
        package_model(src, out, name=f"{name}-ft", version=version, sequence=sequence, golden_inputs=gold,
                      output_ranges=out_ranges, input_ranges=in_ranges, world=world,
                      notes={"derived_from": f"{name} 1.0.0", "changed": f"{fraction:.0%} of {layer} (seed {seed})"})
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=ROOT / "models" / "lander-discrete")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "lander-discrete-ft")
    parser.add_argument("--layer", default="fc2.weight")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    changed = build(args.base, args.out, args.layer, args.fraction, args.seed)
    print(f"{args.out}: {changed} elements of {args.layer} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
