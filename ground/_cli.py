"""The `ground` program: package models for flight."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import os
import time

from flight import COMMANDS, DEFAULT_CHUNK_SIZE, CommandCode, Mode, SeuguardError
from flight.storage import SLOTS

from ._link import GroundLink, send_command
from ._monitor import monitor
from flight._cli_args import OneLineParser, bounded_float, bounded_int, host, path_arg, port, seed

from ._package import DEFAULT_MAX_BYTES, LEVELS, package_model
from ._uplink_cli import add_parsers as add_uplink_parsers
from ._console_cli import add_parsers as add_console_parsers

_ARG_WORDS = {
    CommandCode.SET_MODE: {m.name: m.value for m in Mode},
    CommandCode.ACTIVATE_SLOT: {slot: i for i, slot in enumerate(SLOTS)},
}


def _command_args(code: CommandCode, words: list[str]) -> tuple[int, ...]:
    spec = COMMANDS[code]
    wanted = len(spec.limits)
    if len(words) != wanted:
        raise ValueError(f"{code.name} takes {wanted} argument{'s' if wanted != 1 else ''}, got {len(words)}")
    values = []
    for word, (low, high) in zip(words, spec.limits):
        names = _ARG_WORDS.get(code, {})
        if word.upper() in names:
            values.append(names[word.upper()])
            continue
        try:
            value = int(word, 0)
        except ValueError:
            choices = f" ({', '.join(names)})" if names else ""
            raise ValueError(f"{code.name}: {word!r} is not a valid argument{choices}") from None
        if not low <= value <= high:
            raise ValueError(f"{code.name}: {value} outside [{low}, {high}]")
        values.append(value)
    return tuple(values)


def _open_link(args: argparse.Namespace, whole_stream: bool) -> GroundLink:
    """The monitor listens on the telemetry port; a command listens on a port of its own for the
    replies to it, so it never takes packets away from a running monitor."""
    tm_port = args.tm_port if whole_stream else None
    try:
        return GroundLink(args.host, args.tc_port, tm_port)
    except OSError as exc:
        raise SeuguardError(f"cannot listen for telemetry on {args.host}:{tm_port} ({exc.strerror})") from None


def cmd_command(args: argparse.Namespace) -> int:
    try:
        code = CommandCode[args.name.upper()]
    except KeyError:
        print(f"ground: error: unknown command {args.name!r} (one of {', '.join(c.name for c in CommandCode)})",
              file=sys.stderr)
        return 2
    try:
        values = _command_args(code, args.args)
    except ValueError as exc:
        print(f"ground: error: {exc}", file=sys.stderr)
        return 2
    try:
        link = _open_link(args, whole_stream=False)
    except SeuguardError as exc:
        print(f"ground: error: {exc}", file=sys.stderr)
        return 1
    try:
        seq = args.seq if args.seq is not None else (os.getpid() + int(time.monotonic() * 1000)) & 0x3FFF
        outcome = send_command(link, code, values, seq, timeout=args.timeout)
    finally:
        link.close()
    if args.json:
        print(json.dumps(outcome.__dict__))
    elif outcome.completed:
        print(f"{code.name}: accepted and completed (cycle {outcome.cycle})")
    else:
        print(f"{code.name}: {'accepted, then failed' if outcome.accepted else 'rejected'}: "
              f"{outcome.reason} {outcome.detail}".rstrip(), file=sys.stderr)
    return 0 if outcome.completed else 1


def cmd_monitor(args: argparse.Namespace) -> int:
    try:
        link = _open_link(args, whole_stream=True)
    except SeuguardError as exc:
        print(f"ground: error: {exc}", file=sys.stderr)
        return 1
    out = None
    try:
        if args.json_lines and args.json_lines != "-":
            out = open(args.json_lines, "a")
        elif args.json_lines == "-" or args.json:
            out = sys.stdout
        seen = monitor(link, count=args.count, duration=args.duration, json_out=out,
                       live=not (args.json or args.json_lines == "-") and sys.stdout.isatty())
    except KeyboardInterrupt:
        return 0
    finally:
        link.close()
        if out is not None and out is not sys.stdout:
            out.close()
    if args.count and seen < args.count:
        print(f"ground: error: {seen} of {args.count} housekeeping records before the time limit", file=sys.stderr)
        return 1
    return 0


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
            max_bytes=args.max_bytes,
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
    parser = OneLineParser(prog="ground", description="seuguard ground tools.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "package",
        help="make an ONNX model flight-ready",
        description="Compile an ONNX model offline (onnxruntime's optimizer, so fusions are baked into "
        "the graph that flies), prove which weights are live under the flight configuration, compute "
        "the golden outputs and reference CRCs, and write a model folder that `flight verify` accepts.",
    )
    p.add_argument("model", type=path_arg("file"), help="source ONNX file")
    p.add_argument("-o", "--output", type=path_arg("out_dir"), required=True,
                   help="model folder to write: a new or empty folder, or a model folder `ground package` wrote "
                   "(replaced as a whole); anything else is refused")
    p.add_argument("--name", help="model name (default: the file's stem)")
    p.add_argument("--version", default="1.0.0", help="model version (default 1.0.0)")
    p.add_argument("--sequence", type=bounded_int(0, 2**63 - 1), default=1, help="uplink sequence number (default 1)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--golden-inputs", type=path_arg("file"), help=".npz with one array per input, shape [N, *input shape]")
    g.add_argument("--golden", type=bounded_int(1, 100_000), default=16, help="number of seeded random golden inputs (default 16)")
    p.add_argument("--seed", type=seed, default=0, help="seed for random golden inputs (default 0)")
    p.add_argument("--level", choices=sorted(LEVELS), default="extended", help="offline optimization level")
    p.add_argument("--chunk-size", type=bounded_int(64, 1 << 30), default=DEFAULT_CHUNK_SIZE, help="scrub chunk bytes (default 65536)")
    p.add_argument("--input-range", type=_range, action="append", metavar="NAME=LO,HI", help="valid input range")
    p.add_argument("--output-range", type=_range, action="append", metavar="NAME=LO,HI",
                   help="valid output range: outside it an output is never emitted as valid")
    p.add_argument("--world", help="registered name of the world this model flies in (e.g. lunar-lander)")
    p.add_argument("--max-bytes", type=bounded_int(1, 1 << 50), default=DEFAULT_MAX_BYTES,
                   help=f"refuse source models larger than this (default {DEFAULT_MAX_BYTES // 2**30} GiB: packaging "
                   "holds a few copies of the weights at its peak)")
    p.add_argument("--notes", type=path_arg("file"), help="JSON file of notes to record in the manifest (e.g. measured accuracy)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_package)

    def link_flags(p, tm_help="UDP port telemetry arrives on (default 10026)"):
        p.add_argument("--tc-port", type=port, default=10025, help="flight's telecommand UDP port (default 10025)")
        p.add_argument("--tm-port", type=port, default=10026, help=tm_help)
        p.add_argument("--host", type=host, default="127.0.0.1", help="loopback address (default 127.0.0.1)")

    p = sub.add_parser("command", help="send one telecommand and print its acknowledgement",
                       description="Send one PUS telecommand to `flight serve` and wait for its verification "
                       "reports. Commands: " + ", ".join(c.name for c in CommandCode) + ". SET_MODE takes "
                       f"{'|'.join(m.name for m in Mode)}, ACTIVATE_SLOT takes {'|'.join(SLOTS)}, SET_SCRUB_BUDGET takes bytes. Exit 0 "
                       "only when the command completed.")
    p.add_argument("name", help="command name, e.g. NOOP")
    p.add_argument("args", nargs="*", help="command arguments")
    link_flags(p, "the flight's telemetry port (default 10026); a command does not bind it: its "
                  "reports come back to the port it sent from, so a running monitor keeps the stream")
    p.add_argument("--timeout", type=bounded_float(0.0, 86_400.0), default=5.0, help="seconds to wait for the reports (default 5)")
    p.add_argument("--seq", type=bounded_int(0, 0x3FFF), help="packet sequence count (default: derived from the clock)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_command)

    p = sub.add_parser("monitor", help="show live housekeeping; optionally write it as JSON lines",
                       description="Receive telemetry from `flight serve`: housekeeping in a live terminal table, "
                       "the timing report and recent events below it.")
    link_flags(p)
    p.add_argument("--json-lines", type=path_arg("new_file", allow_dash=True), metavar="FILE", help="append each housekeeping record and event as a JSON line ('-': stdout)")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout instead of the table")
    p.add_argument("--count", type=bounded_int(0, 2**62), default=0, help="stop after this many housekeeping records")
    p.add_argument("--duration", type=bounded_float(0.0, 1e9), default=0.0, help="stop after this many seconds")
    p.set_defaults(func=cmd_monitor)

    add_uplink_parsers(sub)  # keygen, patch build|inspect, uplink
    add_console_parsers(sub)  # dictionary, console (issue 11)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OSError as exc:  # storage or the network refused something no command anticipated: one line
        print(f"ground: error: {exc.filename or ''}: {exc.strerror or exc.__class__.__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
