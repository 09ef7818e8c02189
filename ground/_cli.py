"""The `ground` program: package models for flight."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flight import DEFAULT_CHUNK_SIZE, SeuguardError

from ._package import LEVELS, package_model


def _range(text: str) -> tuple[str, tuple[float, float]]:
    try:
        name, _, bounds = text.partition("=")
        lo, hi = (float(v) for v in bounds.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=LOW,HIGH, got {text!r}") from None
    if not name or not lo <= hi:
        raise argparse.ArgumentTypeError(f"expected NAME=LOW,HIGH with LOW <= HIGH, got {text!r}")
    return name, (lo, hi)


def cmd_package(args: argparse.Namespace) -> int:
    notes = {}
    if args.notes:
        try:
            notes = json.loads(Path(args.notes).read_text())
        except (OSError, ValueError) as exc:
            print(f"ground: error: {args.notes}: not a readable JSON object ({exc.__class__.__name__})", file=sys.stderr)
            return 1
        if not isinstance(notes, dict):
            print(f"ground: error: {args.notes}: must hold a JSON object", file=sys.stderr)
            return 1
    try:
        report = package_model(
            args.model,
            args.output,
            name=args.name,
            version=args.version,
            sequence=args.sequence,
            golden_inputs=args.golden_inputs,
            golden_count=args.golden,
            seed=args.seed,
            level=args.level,
            chunk_size=args.chunk_size,
            input_ranges=dict(args.input_range or []),
            output_ranges=dict(args.output_range or []),
            world=args.world,
            notes=notes,
        )
    except SeuguardError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}))
        print(f"ground: error: {exc}", file=sys.stderr)
        return 1
    result = {
        "ok": True,
        "directory": str(report.directory),
        "parameters": report.parameters,
        "live": list(report.live),
        "not_live": list(report.not_live),
        "embedded": list(report.embedded),
        "max_abs_diff_vs_plain_session": report.max_diff_vs_plain,
        "golden_vectors": report.golden_count,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"packaged {args.model} -> {report.directory}: {report.parameters} parameters, "
            f"{len(report.live)} live tensors, {report.golden_count} golden vectors, "
            f"max |diff| vs plain session {report.max_diff_vs_plain:.3g}"
        )
        if report.not_live:
            print(f"NOT LIVE (checked at load only, not scrubbed): {', '.join(report.not_live)}")
        if report.embedded:
            print(f"embedded integer tensors (checked at load): {', '.join(report.embedded)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ground", description="seuguard ground tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "package",
        help="make an ONNX model flight-ready",
        description="Compile an ONNX model offline (onnxruntime's optimizer, so fusions are baked into "
        "the graph that flies), prove which weights are live under the flight configuration, compute "
        "the golden outputs and reference CRCs, and write a model folder that `flight verify` accepts.",
    )
    p.add_argument("model", type=Path, help="source ONNX file")
    p.add_argument("-o", "--output", type=Path, required=True, help="model folder to write (replaced)")
    p.add_argument("--name", help="model name (default: the file's stem)")
    p.add_argument("--version", default="1.0.0", help="model version (default 1.0.0)")
    p.add_argument("--sequence", type=int, default=1, help="uplink sequence number (default 1)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--golden-inputs", type=Path, help=".npz with one array per input, shape [N, *input shape]")
    g.add_argument("--golden", type=int, default=16, help="number of seeded random golden inputs (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed for random golden inputs (default 0)")
    p.add_argument("--level", choices=sorted(LEVELS), default="extended", help="offline optimization level")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="scrub chunk bytes (default 65536)")
    p.add_argument("--input-range", type=_range, action="append", metavar="NAME=LO,HI", help="valid input range")
    p.add_argument("--output-range", type=_range, action="append", metavar="NAME=LO,HI",
                   help="valid output range: outside it an output is never emitted as valid")
    p.add_argument("--world", help="world adapter this model flies in, as module:factory")
    p.add_argument("--notes", help="JSON file of notes to record in the manifest (e.g. measured accuracy)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_package)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
