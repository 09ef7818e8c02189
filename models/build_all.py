"""Rebuild every committed model: train from scratch, then package for flight with `ground package`.

    python models/build_all.py [--skip-training] [--seed N] [--only NAME ...]

Training writes raw ONNX to build/raw/ (git-ignored, minutes on 2 cores); packaging compiles each
graph offline, computes its CRCs and golden vectors under the flight configuration and writes
models/<name>/ (model.onnx, manifest.yaml, golden.npz), which are committed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ground import package_model  # noqa: E402

RAW = ROOT / "build" / "raw"

# name: (world, output ranges, input ranges). Ranges outside which an output is never emitted as
# valid: logits far beyond anything the policy produces mean a corrupted computation. onnxruntime's
# Tanh and Softmax are approximations that reach 1.0000002 (measured), so bounds of +-1 get a margin.
MODELS = {
    "lander-discrete": ("lunar-lander", {"logits": (-1000.0, 1000.0)}, {"obs": (-100.0, 100.0)}),
    "lander-continuous": ("lunar-lander-continuous", {"action": (-1.001, 1.001)}, {"obs": (-100.0, 100.0)}),
    "hazard-cnn": (None, {"probs": (0.0, 1.001)}, {"image": (-100.0, 100.0)}),
    # MRP components are at most 1 (shadow set), wheel speeds are fractions of the limit, and no rate
    # reaches 2 rad/s with 150 N m s of wheel momentum on 600 kg m^2: beyond +-2 a frame is corrupt.
    "attitude-rw": ("spacecraft-attitude", {"torque": (-1.001, 1.001)}, {"obs": (-2.0, 2.0)}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-training", action="store_true", help="package what is in build/raw/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=list(MODELS), action="append", help="package only this model (repeatable)")
    args = parser.parse_args()
    if not args.skip_training:
        RAW.mkdir(parents=True, exist_ok=True)
        for script in ("build_landers.py", "build_hazard_cnn.py", "build_attitude.py"):
            cmd = [sys.executable, str(ROOT / "models" / script), "--out", str(RAW), "--seed", str(args.seed)]
            print("+", " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)
    for name, (world, out_ranges, in_ranges) in MODELS.items():
        if args.only and name not in args.only:
            continue
        notes = {}
        metrics = RAW / f"{name}.metrics.json"
        if metrics.exists():
            m = json.loads(metrics.read_text())
            notes = {k: m[k] for k in ("heldout_accuracy", "heldout_count", "classes") if k in m}
        report = package_model(
            RAW / f"{name}.onnx",
            ROOT / "models" / name,
            name=name,
            version="1.0.0",
            sequence=1,
            golden_inputs=RAW / f"{name}.golden-inputs.npz",
            output_ranges=out_ranges,
            input_ranges=in_ranges,
            world=world,
            notes=notes,
        )
        print(f"{name}: {report.parameters} parameters, live {len(report.live)}, not live {list(report.not_live)}, "
              f"max |diff| vs plain {report.max_diff_vs_plain:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
