"""The `fault-inject` program: fly with upsets injected and compare against the fault-free run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flight import Redundancy, SeuguardError, boot, fly, load_world

from ._faults import BitFlip, FlipAtCycle


def cmd_flip(args: argparse.Namespace) -> int:
    """One upset, persisting until scrubbed: the same episodes flown clean and with the flip."""
    results = {}
    try:
        for label, faults in (("clean", {}), ("upset", {args.cycle: [BitFlip(args.replica, args.tensor, args.element, args.bit)]})):
            stack = boot(args.model, redundancy=args.redundancy, scrub_budget_bytes=args.scrub_budget)
            try:
                if args.replica >= len(stack.replicas):
                    raise SeuguardError(f"--replica {args.replica}: {args.redundancy} has {len(stack.replicas)} replicas")
                if args.tensor not in stack.replicas[0].image.arrays:
                    raise SeuguardError(f"--tensor {args.tensor}: not a live tensor of {stack.boot.model}")
                if not 0 <= args.element < stack.replicas[0].image.arrays[args.tensor].size:
                    raise SeuguardError(f"--element {args.element}: out of range for {args.tensor}")
                if not 0 <= args.bit < 8 * stack.replicas[0].image.arrays[args.tensor].itemsize:
                    raise SeuguardError(f"--bit {args.bit}: out of range for {args.tensor}")
                world = load_world(args.world or stack.model.manifest.world or "")
                instrument = FlipAtCycle(faults)
                summary = fly(stack, world, args.episodes, args.seed, instruments=[instrument])
                world.close()
            finally:
                stack.close()
            results[label] = summary.to_dict()
            results[label].pop("per_episode")
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
    p.add_argument("--scrub-budget", type=int, default=64 * 1024)
    p.add_argument("--world", help="world adapter as module:factory (default: the manifest's)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_flip)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
