"""`ground dictionary` and `ground console`: argument parsing, kept apart from the server."""

from __future__ import annotations

import argparse
import json
import os
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


from flight._cli_args import bounded_int, host, path_arg  # noqa: E402


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
    p.add_argument("--xtce", type=path_arg("new_file"), required=True, metavar="FILE", help="XML file to write")
    p.add_argument("--replicas", type=_positive, default=3, help="replica count of per-replica fields (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_dictionary)
    add_console_parser(sub)


def cmd_console(args: argparse.Namespace) -> int:
    try:
        import asyncio
        import signal

        from ._console import OPENMCT_DIST, Console, run_console
    except ImportError as exc:
        print(f"ground: error: the console needs {exc.name}; pip install -e '.[console]'", file=sys.stderr)
        return 1
    if not (OPENMCT_DIST / "openmct.js").is_file():
        print(f"ground: error: Open MCT is not installed in {OPENMCT_DIST.parents[1]} (run make)", file=sys.stderr)
        return 1
    if args.token is not None and len(args.token) < 8:
        print("ground: error: --token must be at least 8 characters", file=sys.stderr)
        return 2
    try:
        console = Console(args.db, host=args.host, tc_port=args.tc_port, tm_port=args.tm_port, token=args.token,
                          retention_hours=args.retention_hours, replicas=args.replicas,
                          campaigns=args.campaigns)
    except Exception as exc:  # sqlite3.Error: not a database, unwritable folder
        print(f"ground: error: cannot open the history database {args.db} ({exc})", file=sys.stderr)
        return 1

    def ready(port: int) -> None:
        if args.json:
            print(json.dumps({"url": f"http://{args.http_host}:{port}/", "http_port": port, "tm_port": args.tm_port,
                              "tc_port": args.tc_port, "commanding": bool(args.token), "db": str(args.db)}), flush=True)
        print(f"ground console: http://{args.http_host}:{port}/ (telemetry on {args.host}:{args.tm_port}, "
              f"commanding {'enabled' if args.token else 'disabled'}, history {args.db})", file=sys.stderr, flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_console(console, args.http_host, args.http, ready, stop)

    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"ground: error: cannot listen ({exc.strerror or exc})", file=sys.stderr)
        return 1
    return 0


def _hours(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_console_parser(sub) -> None:
    p = sub.add_parser("console", help="the ground console in the browser (Open MCT), with history and commanding",
                       description="Receive telemetry from `flight serve`, decode it with flight's packet definitions, "
                       "keep its history in SQLite and serve Open MCT with a seuguard plugin: the dictionary, realtime "
                       "over a WebSocket, history over HTTP, limits, a default layout, and commanding (NOOP, SCRUB_NOW, "
                       "SET_MODE, SET_SCRUB_BUDGET, ACTIVATE_SLOT, ROLLBACK) for whoever holds the --token. "
                       "Viewing needs no token. Listens on loopback unless told otherwise.")
    p.add_argument("--tc-port", type=bounded_int(1, 65535), default=10025, help="flight's telecommand UDP port (default 10025)")
    p.add_argument("--tm-port", type=bounded_int(1, 65535), default=10026, help="UDP port telemetry arrives on (default 10026)")
    p.add_argument("--host", type=host, default="127.0.0.1", help="address of the UDP link (default 127.0.0.1)")
    p.add_argument("--http", type=bounded_int(0, 65535), default=8080, metavar="PORT", help="HTTP port (default 8080; 0: any free)")
    p.add_argument("--http-host", type=host, default="127.0.0.1", help="HTTP address (default 127.0.0.1, loopback only)")
    p.add_argument("--db", type=path_arg("new_file"), default=Path("console-history.sqlite"), help="history database file "
                   "(default console-history.sqlite; kept across restarts)")
    p.add_argument("--retention-hours", type=_hours, default=24.0, help="history kept, hours (default 24)")
    p.add_argument("--token", default=os.environ.get("SEUGUARD_CONSOLE_TOKEN"),
                   help="commanding token, at least 8 characters (default: $SEUGUARD_CONSOLE_TOKEN, which keeps it "
                   "out of the process list); without one the console is read-only")
    p.add_argument("--replicas", type=_positive, default=3, help="replica count of per-replica fields (default 3)")
    p.add_argument("--json", action="store_true", help="also print one JSON object on stdout once listening")
    p.add_argument("--campaigns", type=path_arg("dir"), metavar="DIR", help="folder of campaign reports (`fault-inject campaign "
                   "--report DIR/NAME`), browsable at /static/campaigns.html")
    p.set_defaults(func=cmd_console)
