"""`ground keygen`, `ground patch build|inspect` and `ground uplink`: the uplink's subcommands.

Kept out of `_cli.py` (which only registers them) so the uplink's front end is one file.
Exit codes: 0 success, 1 refusal (bad patch, failed transfer, unreadable key), 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from flight import SeuguardError
from flight.uplink import LinkTimers, PatchRejected, decode_patch, decode_header

from flight._cli_args import bounded_float, bounded_int, host, path_arg

from ._linksim import LinkProfile, LinkSim
from ._patch import build_patch, keygen, load_private_key, load_public_key
from ._uplink import send_patch_udp


def _fail(message: str, code: int = 1, as_json: bool = False) -> int:
    if as_json:
        print(json.dumps({"ok": False, "error": message}))
    print(f"ground: error: {message}", file=sys.stderr)
    return code


def cmd_keygen(args: argparse.Namespace) -> int:
    if args.output.exists() and not args.force:
        return _fail(f"{args.output} exists (use --force to replace a key)")
    try:
        key, pub = keygen(args.output)
    except OSError as exc:
        return _fail(f"{args.output}: cannot write ({exc.strerror})")
    if args.json:
        print(json.dumps({"ok": True, "private": str(key), "public": str(pub)}))
    else:
        print(f"wrote {key} (private, mode 0600) and {pub} (public: install onboard)")
    return 0


def cmd_patch_build(args: argparse.Namespace) -> int:
    try:
        key = load_private_key(args.key)
        raw, report = build_patch(args.base, args.new, key, args.seq, args.spacecraft, force_whole=args.whole)
    except SeuguardError as exc:
        return _fail(str(exc), as_json=args.json)
    try:
        args.output.write_bytes(raw)
    except OSError as exc:
        return _fail(f"{args.output}: cannot write ({exc.strerror})", as_json=args.json)
    result = {"kind": report.kind, "patch_bytes": report.patch_bytes, "model_bytes": report.model_bytes,
              "changed_elements": report.changed_elements}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.output}: {report.kind} patch, {report.patch_bytes} bytes for a {report.model_bytes}-byte model "
              f"({100 * report.patch_bytes / report.model_bytes:.1f}%), {report.changed_elements} changed elements")
    return 0


def cmd_patch_inspect(args: argparse.Namespace) -> int:
    try:
        raw = args.patch.read_bytes()
    except OSError as exc:
        return _fail(f"{args.patch}: unreadable ({exc.strerror})", as_json=args.json)
    try:
        pub = load_public_key(args.pub) if args.pub is not None else None
    except SeuguardError as exc:
        return _fail(str(exc), as_json=args.json)
    result = decode_patch(raw, pub)
    if isinstance(result, PatchRejected):
        header = decode_header(raw, None)
        out = {"ok": False, "reason": result.reason.name, "detail": result.detail}
        if not isinstance(header, PatchRejected):
            out["header"] = header.describe()
        if args.json:
            print(json.dumps(out))
        print(f"ground: error: {args.patch}: refused: {result}", file=sys.stderr)
        return 1
    info = {
        "ok": True,
        "signature": "verified" if pub is not None else "not checked (no --pub)",
        "header": result.header.describe(),
        "files": [{"name": f.name, "mode": "whole" if f.is_whole else "xor",
                   "bytes": len(f.data) if f.is_whole else f.size,
                   "tensors": {t.name: len(t.indices) for t in f.tensors}} for f in result.files],
        "changed_elements": result.changed_elements,
        "patch_bytes": len(raw),
    }
    if args.json:
        print(json.dumps(info))
        return 0
    h = info["header"]
    print(f"{args.patch}: {h['kind']} patch, sequence {h['sequence']}, spacecraft {h['spacecraft']}, "
          f"{len(raw)} bytes, signature {info['signature']}")
    print(f"  base   {h['base_sha256']}\n  result {h['result_sha256']}\n  patch  {h['patch_sha256']}")
    for f in info["files"]:
        changes = ", ".join(f"{n}: {c} elements" for n, c in f["tensors"].items())
        print(f"  {f['name']}: {f['mode']}, {f['bytes']} bytes" + (f" ({changes})" if changes else ""))
    return 0


def _link_profile(text: str) -> str:
    """A --link value that parses (checked at the command line, used as text later)."""
    try:
        LinkProfile.parse(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"not a link profile like loss=0.1,ber=1e-6,rate=64k,delay=0.25 ({exc})") from None
    return text


def cmd_uplink(args: argparse.Namespace) -> int:
    try:
        raw = args.patch.read_bytes()
    except OSError as exc:
        return _fail(f"{args.patch}: unreadable ({exc.strerror})", as_json=args.json)
    header = decode_header(raw, None)
    if isinstance(header, PatchRejected):
        return _fail(f"{args.patch}: not a patch: {header}", as_json=args.json)
    up = down = None
    if args.link:
        try:
            profile = LinkProfile.parse(args.link)
        except ValueError as exc:
            return _fail(str(exc), code=2, as_json=args.json)
        import numpy as np

        up_rng, down_rng = np.random.default_rng([args.seed, 1]), np.random.default_rng([args.seed, 2])
        up, down = LinkSim(profile, up_rng), LinkSim(profile, down_rng)
    transaction = args.transaction if args.transaction is not None else (os.getpid() + int(time.time() * 1000)) & 0xFFFF
    timers = LinkTimers(ack_interval_s=args.ack_interval, nak_interval_s=args.ack_interval,
                        check_interval_s=args.ack_interval)
    progress = None
    live = None
    if not args.json and sys.stderr.isatty():
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

        live = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                        TimeElapsedColumn(), transient=True)
        task = live.add_task("uplink", total=len(raw))
        live.start()

        def progress(done: int, total: int) -> None:
            live.update(task, completed=done)
    try:
        result = send_patch_udp(raw, args.host, args.tc_port, transaction, args.timeout, up, down, timers, progress)
    except OSError as exc:
        return _fail(f"UDP to {args.host}:{args.tc_port}: {exc.strerror}", as_json=args.json)
    finally:
        if live is not None:
            live.stop()
    out = {"delivered": result.delivered, "bytes_on_link": result.bytes_on_link,
           "retransmissions": result.retransmissions, "seconds": round(result.seconds, 3)}
    if args.json:
        print(json.dumps(out))
    elif result.delivered:
        print(f"{args.patch}: delivered, {result.bytes_on_link} bytes on the link for {len(raw)} "
              f"({result.retransmissions} retransmissions) in {result.seconds:.2f} s; the flight verifies it next")
    if not result.delivered:
        print(f"ground: error: {args.patch}: not delivered ({result.condition})", file=sys.stderr)
        return 1
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("keygen", help="make an Ed25519 key pair for signing patches",
                       description="Write an Ed25519 private key (PEM, mode 0600) to KEY and its public key "
                       "(hex) to KEY.pub, which the flight holds.")
    p.add_argument("-o", "--output", type=path_arg("new_file"), required=True, help="private key file to write")
    p.add_argument("--force", action="store_true", help="replace an existing key")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("patch", help="build or inspect a signed model patch",
                       description="Build a signed patch from two packaged model folders, or inspect one.")
    psub = p.add_subparsers(dest="patch_command", required=True, metavar="ACTION")
    b = psub.add_parser("build", help="build and sign a patch",
                        description="Only the changed tensor elements, XORed against the base and compressed "
                        "with zstd (a whole-model patch when the graph or shapes change), with a signed header: "
                        "base, result and patch sha256, spacecraft id and sequence number.")
    b.add_argument("--base", type=path_arg("dir"), required=True, help="model folder the spacecraft flies now")
    b.add_argument("--new", type=path_arg("dir"), required=True, help="model folder to uplink")
    b.add_argument("--key", type=path_arg("file"), required=True, help="Ed25519 private key (from ground keygen)")
    b.add_argument("--seq", type=bounded_int(0, (1 << 64) - 1), required=True,
                   help="sequence number, above every one sent before")
    b.add_argument("--spacecraft", type=bounded_int(0, (1 << 32) - 1), required=True, help="target spacecraft id")
    b.add_argument("--whole", action="store_true", help="send the whole model even if a delta would do")
    b.add_argument("-o", "--output", type=path_arg("new_file"), required=True, help="patch file to write")
    b.add_argument("--json", action="store_true", help='print {"kind","patch_bytes","model_bytes","changed_elements"}')
    b.set_defaults(func=cmd_patch_build)
    i = psub.add_parser("inspect", help="show a patch's header and check its signature",
                        description="Exit 0 and the header for a well-formed patch whose signature verifies "
                        "with --pub; exit 1 with the reason otherwise.")
    i.add_argument("patch", type=path_arg("file"), help="patch file")
    i.add_argument("--pub", type=path_arg("file"), help="public key (KEY.pub) to verify the signature with")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(func=cmd_patch_inspect)

    u = sub.add_parser("uplink", help="send a patch to the flight over CFDP Class 2",
                       description="Send a patch as CCSDS Space Packets carrying CFDP Class 2 PDUs (APID 0x0C9) "
                       "to `flight serve`'s telecommand port, with NAK retransmission, and wait for the "
                       "Finished PDU. --link puts a simulated lossy link in between.")
    u.add_argument("patch", type=path_arg("file"), help="patch file")
    u.add_argument("--tc-port", type=bounded_int(1, 65535), default=10025, help="flight's telecommand UDP port (default 10025)")
    u.add_argument("--host", type=host, default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    u.add_argument("--link", type=_link_profile, help="simulated link, e.g. loss=0.1,ber=1e-6,rate=64k,delay=0.25")
    u.add_argument("--seed", type=bounded_int(0, (1 << 32) - 1), default=0, help="link simulator seed (default 0)")
    u.add_argument("--timeout", type=bounded_float(0.1, 86_400.0), default=120.0, help="seconds before giving up (default 120)")
    u.add_argument("--ack-interval", type=bounded_float(0.01, 3600.0), default=1.0, help="CFDP ACK/NAK timer seconds (default 1)")
    u.add_argument("--transaction", type=bounded_int(0, 0xFFFF), help="CFDP transaction number (default: from the clock)")
    u.add_argument("--json", action="store_true", help='print {"delivered","bytes_on_link","retransmissions","seconds"}')
    u.set_defaults(func=cmd_uplink)
