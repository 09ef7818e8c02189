"""The `fault-inject` program: fly with upsets injected and compare against the fault-free run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flight import Redundancy, SeuguardError, SlotStore, fly, load_config, load_manifest, load_world, make_executive

from ._faults import BitFlip, FlipAtCycle


def cmd_flip(args: argparse.Namespace) -> int:
    """One upset, persisting until scrubbed: the same episodes flown clean and with the flip."""
    results = {}
    fault = BitFlip(args.replica, args.tensor, args.element, args.bit)
    try:
        config = load_config(args.config)
        store = SlotStore.single(args.model)
        for label, faults in (("clean", {}), ("upset", {args.cycle: [fault]})):
            world = load_world(args.world or load_manifest(args.model / "manifest.yaml").world or "")
            instrument = FlipAtCycle(faults)
            executive = make_executive(store, config, world, [instrument], redundancy=args.redundancy)
            try:
                _check_fault(executive, fault)
                summary = fly(executive, world, args.episodes, args.seed)
            finally:
                executive.close()
                world.close()
            results[label] = summary.to_dict()
            for key in ("per_episode", "events"):
                results[label].pop(key)
    except SeuguardError as exc:
        print(f"fault-inject: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results))
    else:
        for label, r in results.items():
            print(f"{label:6s} landed {r['landed']}/{r['episodes']} crashed {r['crashed']} timed out {r['timed_out']} "
                  f"corrected votes {r['votes_corrected']} chunks repaired {r['chunks_repaired']}")
    return 0


def _check_fault(executive, fault: BitFlip) -> None:
    replicas = executive.replicas
    if not replicas:
        raise SeuguardError("the model did not boot")
    if not 0 <= fault.replica < len(replicas):
        raise SeuguardError(f"--replica {fault.replica}: there are {len(replicas)} replicas")
    arrays = replicas[0].image.arrays
    if fault.tensor not in arrays:
        raise SeuguardError(f"--tensor {fault.tensor}: not a live tensor (one of {', '.join(arrays)})")
    if not 0 <= fault.element < arrays[fault.tensor].size:
        raise SeuguardError(f"--element {fault.element}: out of range for {fault.tensor}")
    if not 0 <= fault.bit < 8 * arrays[fault.tensor].itemsize:
        raise SeuguardError(f"--bit {fault.bit}: out of range for {fault.tensor}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fault-inject", description="seuguard fault injection.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("flip", help="fly clean and with one bit flip; compare",
                       description="Fly the same seeded episodes twice: fault-free, and with one bit of one "
                       "replica's weight flipped at a given cycle (it persists until the scrubber repairs it).")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--tensor", required=True, help="live tensor name (see the manifest)")
    p.add_argument("--element", type=int, default=0)
    p.add_argument("--bit", type=int, default=30, help="bit to flip (default 30, the exponent's high bit)")
    p.add_argument("--replica", type=int, default=0)
    p.add_argument("--cycle", type=int, default=1, help="cycle at which the upset strikes (default 1)")
    p.add_argument("--episodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--redundancy", choices=[r.value for r in Redundancy], default="tmr")
    p.add_argument("--config", type=Path, help="flight configuration YAML (default: the packaged one)")
    p.add_argument("--world", help="registered world name (default: the manifest's)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_flip)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
