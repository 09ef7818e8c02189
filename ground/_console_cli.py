"""`ground dictionary` and `ground console`: argument parsing, kept apart from the server."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_dictionary(args: argparse.Namespace) -> int:
    try:
        from ._xtce import build_system, housekeeping_layout
    except ImportError as exc:
        print(f"ground: error: the XTCE writer is not installed ({exc.name}); pip install -e '.[console]'", file=sys.stderr)
        return 1
    system = build_system(args.replicas)
    try:
        Path(args.xtce).write_text(system.dumps())
    except OSError as exc:
        print(f"ground: error: cannot write {args.xtce} ({exc.strerror})", file=sys.stderr)
        return 1
    summary = {"ok": True, "xtce": str(args.xtce), "housekeeping_parameters": len(housekeeping_layout(args.replicas)),
               "commands": len([c for c in system.commands if not c.abstract]),
               "containers": len([c for c in system.containers if not c.abstract])}
    print(json.dumps(summary) if args.json else
          f"wrote {args.xtce}: {summary['housekeeping_parameters']} housekeeping parameters, "
          f"{summary['containers']} packet containers, {summary['commands']} commands (XTCE 1.2)")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_parsers(sub) -> None:
    p = sub.add_parser("dictionary", help="write the telemetry and command dictionary as XTCE",
                       description="Write seuguard's telemetry (housekeeping, timing report, events, verification "
                       "reports) and command dictionary as XTCE 1.2, generated from flight's packet definitions, "
                       "so Yamcs or another XTCE ground system decodes the packets.")
    p.add_argument("--xtce", type=Path, required=True, metavar="FILE", help="XML file to write")
    p.add_argument("--replicas", type=_positive, default=3, help="replica count of per-replica fields (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_dictionary)
