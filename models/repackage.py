"""Repackage committed model folders in place from their own flight graph, with the settings their
manifests record (no training): how a change of the manifest format reaches the committed models.

    python models/repackage.py [NAME ...]     (default: every committed model)

model.onnx and golden.npz come out byte for byte the same (packaging is reproducible, see
tests/ground/test_package_reproducible.py); the manifest is rewritten by the current format. The
old manifest is read without its integrity check (it may predate it), but every field is validated.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flight import manifest_from_dict  # noqa: E402
from ground import package_model  # noqa: E402

COMMITTED = ("lander-discrete", "lander-continuous", "hazard-cnn", "attitude-rw", "lander-discrete-ft")
GENERATED_NOTES = ("optimization_level", "max_abs_diff_vs_plain_session", "not_live")


def repackage(folder: Path) -> None:
    m = manifest_from_dict(yaml.safe_load((folder / "manifest.yaml").read_text()), source="manifest.yaml")
    with tempfile.TemporaryDirectory(prefix="repackage-") as tmp:
        work = Path(tmp)
        with np.load(folder / "golden.npz") as golden:
            np.savez(work / "inputs.npz", **{k: golden[k] for k in golden.files if k.startswith("input:")})
        (work / "model.onnx").write_bytes((folder / m.model_file).read_bytes())
        package_model(
            work / "model.onnx", folder, name=m.name, version=m.version, sequence=m.sequence,
            golden_inputs=work / "inputs.npz", level=m.notes["optimization_level"], chunk_size=m.chunk_size,
            input_ranges={s.name: s.range for s in m.inputs if s.range is not None},
            output_ranges={s.name: s.range for s in m.outputs if s.range is not None},
            world=m.world, notes={k: v for k, v in m.notes.items() if k not in GENERATED_NOTES},
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(COMMITTED), help="model folders under models/")
    for name in parser.parse_args().names:
        repackage(ROOT / "models" / name)
        print(f"repackaged models/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
