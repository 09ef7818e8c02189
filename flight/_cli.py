"""The `flight` program: verify a model folder, fly a world with the engine in the loop."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .executive._config import load_config, parse_config, read_config_text
from ._errors import SeuguardError
from ._fly import fly, make_executive
from .storage._manifest import load_manifest
from .comms._recording import Recorder
from ._replay import recording_header, replay
from .engine._replica import Replica, check_golden
from ._serve import UdpLink, serve
from .storage._store import SlotStore
from .storage._model import open_model
from .engine._tmr import Redundancy, Scheduling
from ._world import load_world
from ._cli_args import OneLineParser, bounded_int, host, path_arg, port, seed
from .executive._events import EventId
from .executive._modes import Mode


def _error(message: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": False, "error": message}))
    print(f"flight: error: {message}", file=sys.stderr)
    return 1


def cmd_verify(args: argparse.Namespace) -> int:
    """sha256, every CRC, then the golden vectors under the flight configuration."""
    try:
        model = open_model(args.model_dir)
        check_golden(Replica(0, model))
    except SeuguardError as exc:
        return _error(str(exc), args.json)
    m = model.manifest
    summary = {
        "ok": True,
        "model": m.name,
        "version": m.version,
        "sequence": m.sequence,
        "sha256": m.model_sha256,
        "tensors": len(m.tensors),
        "live_tensors": len(m.live_tensors),
        "chunks": sum(len(t.chunks) for t in m.tensors),
        "golden_vectors": m.golden.count,
        "unprotected": list(m.unprotected),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{m.name} {m.version}: OK  sha256 {m.model_sha256[:16]}..., {summary['tensors']} tensors "
            f"({summary['live_tensors']} live) in {summary['chunks']} chunks, "
            f"{m.golden.count} golden vectors bit-exact"
            + (f"; not live (load-time check only): {', '.join(m.unprotected)}" if m.unprotected else "")
        )
    return 0


def _progress(total: int, enabled: bool):
    """A rich progress bar on stderr for runs longer than a moment; a no-op when disabled."""
    if not enabled:
        return None, lambda _o: None
    from rich.progress import Progress

    progress = Progress(transient=True, console=None)
    task = progress.add_task("flying", total=total)
    return progress, lambda _o: progress.advance(task)


def _table(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary.model}: {summary.episodes} episodes, {summary.redundancy.upper()} ({summary.scheduling})")
    for col in ("seed", "outcome", "return", "steps"):
        table.add_column(col, justify="right" if col != "outcome" else "left")
    for ep in summary.per_episode:
        table.add_row(str(ep["seed"]), ep["outcome"], f"{ep['return']:.1f}", str(ep["steps"]))
    console = Console()
    console.print(table)
    console.print(
        "  ".join(f"{name.replace('_', ' ')} {count}" for name, count in summary.outcomes.items())
        + f"  (success {summary.success}/{summary.episodes}, mean return {summary.mean_return:.1f})\n"
        f"votes: unanimous {summary.votes_unanimous}  corrected {summary.votes_corrected}  "
        f"failed {summary.votes_failed}  unrecoverable {summary.unrecoverable}  "
        f"fallback cycles {summary.fallback_cycles}\n"
        f"scrub: {summary.scrub_full_passes} full passes, {summary.chunks_repaired} chunks repaired "
        f"({summary.chunks_reloaded} from storage)   telemetry sha256 {summary.telemetry_sha256[:16]}..."
    )


def _open_store(args: argparse.Namespace) -> SlotStore:
    if args.store is not None:
        return SlotStore.open(args.store)
    if args.model is None:
        raise SeuguardError("give --model DIR or --store DIR")
    if not Path(args.model).is_dir():
        raise SeuguardError(f"{args.model}: not a model folder")
    return SlotStore.single(args.model)


def _open_world(spec: str):
    """The world registered as `spec`; a factory that fails is a one-line refusal, not a traceback
    (`load_world` refuses names that are not registered and results that are not worlds)."""
    try:
        return load_world(spec)
    except SeuguardError:
        raise
    except Exception as exc:  # the factory is foreign code: any failure of it is a refusal
        raise SeuguardError(f"world {spec!r}: the factory failed ({exc.__class__.__name__}: {exc})") from None


def boot_failure(executive) -> str:
    """Why the executive is not flying a model after construction ('' when it is): the boot
    failures it reported, or its mode."""
    if executive.stack is not None and Mode(executive.mode) is not Mode.SAFE:
        return ""
    reasons = [e.text for e in executive.events if e.id is EventId.BOOT_FAILED_ERR]
    return "; ".join(reasons) if reasons else f"no model flying (mode {Mode(executive.mode).name})"


def _uplink_receiver(args: argparse.Namespace, store: SlotStore):
    """The model-patch receiver, when --uplink-key is given; None otherwise."""
    if args.uplink_key is None:
        return None
    if store.root is None:
        raise SeuguardError("--uplink-key needs --store DIR (patches are staged in its inactive slot)")
    from .uplink import UplinkReceiver

    try:
        text = args.uplink_key.read_text().strip()
        key = bytes.fromhex(text)
        if len(key) != 32:
            raise ValueError
    except (OSError, UnicodeDecodeError, ValueError):
        raise SeuguardError(f"{args.uplink_key}: not an Ed25519 public key written by `ground keygen`") from None
    if not 0 <= args.spacecraft < 1 << 32:
        raise SeuguardError(f"--spacecraft {args.spacecraft}: outside [0, 2^32)")
    return UplinkReceiver(store, key, args.spacecraft)


def _world_spec(args: argparse.Namespace, store: SlotStore) -> str:
    if args.world:
        return args.world
    problems = []
    for slot in (store.active(), "A", "B"):
        d = store.slot_dir(slot)
        if d is not None:
            try:
                world = load_manifest(d / "manifest.yaml").world
            except SeuguardError as exc:
                problems.append(str(exc))
                continue
            if world:
                return world
    raise SeuguardError(f"{problems[0]} (and no readable manifest names a world; pass --world NAME)" if problems
                        else "no manifest names a world; pass --world NAME")


def cmd_fly(args: argparse.Namespace) -> int:
    executive = recorder = world = None
    try:
        store = _open_store(args)
        config_text, config_source = read_config_text(args.config)
        config = parse_config(config_text, config_source)
        world_spec = _world_spec(args, store)
        world = _open_world(world_spec)
        if args.record is not None:
            recorder = _recorder(args.record, recording_header(
                store, config_text, config_source, redundancy=args.redundancy, scheduling=args.scheduling,
                seed=args.seed, episodes=args.episodes, world=world_spec))
        executive = make_executive(store, config, world, redundancy=args.redundancy,
                                   scheduling=args.scheduling, recorder=recorder)
        failure = boot_failure(executive)
        if failure:  # a batch run flies the model or fails; the fallback alone proves nothing
            raise SeuguardError(f"the model did not boot: {failure}")
        show = not args.json and not args.quiet and sys.stderr.isatty()
        progress, advance = _progress(args.episodes, show)
        t0 = time.perf_counter()
        if progress is not None:
            with progress:
                summary = fly(executive, world, args.episodes, args.seed, on_episode=advance)
        else:
            summary = fly(executive, world, args.episodes, args.seed)
        elapsed = time.perf_counter() - t0
    except SeuguardError as exc:
        return _error(str(exc), args.json)
    finally:
        if executive is not None:
            executive.close()
        if recorder is not None:
            recorder.close()
        if world is not None:
            world.close()
    never_flew = summary.cycles > 0 and summary.fallback_cycles >= summary.cycles
    if args.json:
        d = summary.to_dict()
        if not args.per_episode:
            d.pop("per_episode")
        if not args.events:
            d.pop("events")
        if never_flew:
            d.update(ok=False, error="the model never flew: the fallback controller flew every cycle")
        print(json.dumps(d))
    else:
        _table(summary)
        print(f"({elapsed:.1f} s wall)")
    if never_flew:
        print("flight: error: the model never flew: the fallback controller flew every cycle", file=sys.stderr)
        return 1
    return 0


def _recorder(path: Path, header: dict) -> Recorder:
    try:
        return Recorder(path, header)
    except OSError as exc:
        raise SeuguardError(f"{path}: cannot record ({exc.strerror or exc.__class__.__name__})") from None


def cmd_serve(args: argparse.Namespace) -> int:
    executive = world = link = None
    try:
        store = _open_store(args)
        config = load_config(args.config)
        world = _open_world(_world_spec(args, store))
        try:
            link = UdpLink(args.host, args.tc_port, args.tm_port)
        except (OSError, OverflowError) as exc:
            raise SeuguardError(f"cannot listen on {args.host}:{args.tc_port} "
                                f"({getattr(exc, 'strerror', None) or exc})") from None
        receiver = _uplink_receiver(args, store)  # before booting: it finishes interrupted slot swaps
        executive = make_executive(store, config, world, redundancy=args.redundancy, scheduling=args.scheduling,
                                   uplink=receiver, auto_activate=args.auto_activate)
        failure = boot_failure(executive)
        if failure:  # onboard, SAFE with the fallback is right: keep flying, but say so at once
            print(f"flight: boot failed, flying SAFE on the fallback controller: {failure}",
                  file=sys.stderr, flush=True)
        print(f"flight: serving {executive.stack.boot.model if executive.stack else '(SAFE, no model)'} "
              f"at {config.schedule.minor_frame_hz:g} Hz; telecommands on {args.host}:{args.tc_port}, "
              f"telemetry to {args.host}:{args.tm_port}", file=sys.stderr, flush=True)
        cycles = serve(executive, world, link, seed=args.seed, max_cycles=args.cycles)
        executive = None  # serve closed it
    except SeuguardError as exc:
        return _error(str(exc), False)
    finally:
        if executive is not None:
            executive.close()
        if link is not None:
            link.close()
        if world is not None:
            world.close()
    print(f"flight: stopped after {cycles} cycles", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    try:
        summary = replay(args.log)
    except SeuguardError as exc:
        return _error(str(exc), args.json)
    except OSError as exc:  # the recorded model store was moved or deleted since the recording
        return _error(f"{args.log}: the recorded model store is unreadable "
                      f"({exc.filename or ''}: {exc.strerror or exc.__class__.__name__})", args.json)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"replayed {summary['cycles']} cycles ({summary['telecommands']} telecommands): "
              f"final mode {summary['final_mode']}, telemetry sha256 {summary['telemetry_sha256']}")
    return 0


def _add_vehicle_flags(p: argparse.ArgumentParser) -> None:
    """What fly and serve share: where the models are, the configuration, redundancy, the world."""
    p.add_argument("--model", type=path_arg("model_dir"), help="model folder (flown from slot A of a read-only store)")
    p.add_argument("--store", type=path_arg("dir"), help="model store folder with slots A/ and B/ and the active record")
    p.add_argument("--config", type=path_arg("file"), help="flight configuration YAML (default: the packaged one)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the first episode; episode i uses seed+i")
    p.add_argument("--redundancy", choices=[r.value for r in Redundancy],
                   help="tmr (2-of-3 vote), duplex (detect only) or simplex (default: the configuration's, tmr)")
    p.add_argument("--scheduling", choices=[s.value for s in Scheduling],
                   help="run replicas serially, on a 2-thread pool, or choose by measured time (default: auto)")
    p.add_argument("--world", help="registered world name, e.g. lunar-lander (default: the manifest's)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="flight",
        description="seuguard onboard software: triple-modular-redundant ONNX inference over "
        "CRC-checked, scrubbed weights.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("verify", help="check a model folder: sha256, every CRC, golden vectors",
                       description="Check a model folder against its manifest: the model file's sha256, "
                       "every tensor's and chunk's CRC-32C, and the golden vectors, computed under the "
                       "flight configuration and compared bit for bit. Exit 0 with a summary, or 1 with "
                       "one line naming the file, or tensor and chunk, that failed.")
    p.add_argument("model_dir", type=path_arg("model_dir"), help="model folder (model.onnx, manifest.yaml, golden.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("fly", help="fly a simulated world with the engine in the loop",
                       description="Boot the model (verify, golden vectors, liveness proof), then fly "
                       "N seeded episodes of its world (LunarLander for the lander models) with the "
                       "redundant engine and the scrubber in the loop.")
    _add_vehicle_flags(p)
    p.add_argument("--record", type=path_arg("new_file"), metavar="LOG", help="record every input frame and telecommand to LOG")
    p.add_argument("--episodes", type=bounded_int(1, 1_000_000), default=5, help="episodes to fly (default 5)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--per-episode", action="store_true", help="with --json, include each episode")
    p.add_argument("--events", action="store_true", help="with --json, include the event log")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fly)

    p = sub.add_parser("serve", help="run the executive in real time with UDP telecommands and telemetry",
                       description="Fly the world in real time (one minor frame per schedule period), take "
                       "PUS telecommands on --tc-port and send CCSDS telemetry to --tm-port, both on loopback. "
                       "Stops cleanly on SIGTERM or SIGINT after sending every queued packet.")
    _add_vehicle_flags(p)
    p.add_argument("--tc-port", type=port, default=10025, help="UDP port to take telecommands on (default 10025)")
    p.add_argument("--tm-port", type=port, default=10026, help="UDP port to send telemetry to (default 10026)")
    p.add_argument("--host", type=host, default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument("--cycles", type=bounded_int(0, 2**62), default=0, help="stop after this many minor frames (default: run until signalled)")
    p.add_argument("--uplink-key", type=path_arg("file"), metavar="KEY.pub",
                   help="receive signed model patches (needs --store): the ground's Ed25519 public key, as `ground "
                   "keygen` writes it; file-transfer PDUs arrive on the telecommand port, APID 0x0C9")
    p.add_argument("--spacecraft", type=bounded_int(0, 2**32 - 1), default=1, help="this spacecraft's id: patches for another are refused (default 1)")
    p.add_argument("--auto-activate", action="store_true",
                   help="switch to a verified patch at once (default: wait for ACTIVATE_SLOT)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("replay", help="re-run a recording and reproduce its voted outputs and digest",
                       description="Feed a recording made with `flight fly --record` back through a new "
                       "executive (same model store and configuration, no world) and print the telemetry "
                       "sha256, which equals the recorded flight's. The model store must hold the same "
                       "models as when it was recorded.")
    p.add_argument("log", type=path_arg("file"), help="recording file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("flight: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # storage refused something no command anticipated: still one line
        print(f"flight: error: {exc.filename or ''}: {exc.strerror or exc.__class__.__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
