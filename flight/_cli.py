"""The `flight` program: verify a model folder, fly a world with the engine in the loop."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ._boot import boot
from ._errors import SeuguardError
from ._replica import Replica, check_golden
from ._store import open_model
from ._tmr import Redundancy, Scheduling
from ._world import load_world


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
        f"landed {summary.landed}  crashed {summary.crashed}  timed out {summary.timed_out}  "
        f"(return >= 200: {summary.returns_ge_200}/{summary.episodes}, mean {summary.mean_return:.1f})\n"
        f"votes: unanimous {summary.votes_unanimous}  corrected {summary.votes_corrected}  "
        f"failed {summary.votes_failed}  unrecoverable {summary.unrecoverable}  "
        f"fallback cycles {summary.fallback_cycles}\n"
        f"scrub: {summary.scrub_full_passes} full passes, {summary.chunks_repaired} chunks repaired "
        f"({summary.chunks_reloaded} from storage)   telemetry sha256 {summary.telemetry_sha256[:16]}..."
    )


def cmd_fly(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        return _error(f"--episodes must be >= 1, got {args.episodes}", args.json)
    if args.scrub_budget < 1:
        return _error(f"--scrub-budget must be >= 1 byte, got {args.scrub_budget}", args.json)
    stack = None
    try:
        stack = boot(
            args.model,
            redundancy=args.redundancy,
            scheduling=args.scheduling,
            max_reexecutions=args.reexecutions,
            scrub_budget_bytes=args.scrub_budget,
        )
        world_spec = args.world or stack.model.manifest.world
        if not world_spec:
            return _error(f"{args.model}: the manifest names no world; pass --world module:factory", args.json)
        world = load_world(world_spec)
        from ._fly import fly

        show = not args.json and not args.quiet and sys.stderr.isatty()
        progress, advance = _progress(args.episodes, show)
        t0 = time.perf_counter()
        if progress is not None:
            with progress:
                summary = fly(stack, world, args.episodes, args.seed, on_episode=advance)
        else:
            summary = fly(stack, world, args.episodes, args.seed)
        elapsed = time.perf_counter() - t0
        world.close()
    except SeuguardError as exc:
        return _error(str(exc), args.json)
    finally:
        if stack is not None:
            stack.close()
    if args.json:
        d = summary.to_dict()
        if not args.per_episode:
            d.pop("per_episode")
        print(json.dumps(d))
    else:
        _table(summary)
        print(f"({elapsed:.1f} s wall)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    p.add_argument("model_dir", type=Path, help="model folder (model.onnx, manifest.yaml, golden.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("fly", help="fly a simulated world with the engine in the loop",
                       description="Boot the model (verify, golden vectors, liveness proof), then fly "
                       "N seeded episodes of its world (LunarLander for the lander models) with the "
                       "redundant engine and the scrubber in the loop.")
    p.add_argument("--model", type=Path, required=True, help="model folder")
    p.add_argument("--episodes", type=int, default=5, help="episodes to fly (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode; episode i uses seed+i")
    p.add_argument("--redundancy", choices=[r.value for r in Redundancy], default="tmr",
                   help="tmr (2-of-3 vote), duplex (detect only) or simplex (default tmr)")
    p.add_argument("--scheduling", choices=[s.value for s in Scheduling], default="auto",
                   help="run replicas serially, on a 2-thread pool, or choose by measured time (default auto)")
    p.add_argument("--reexecutions", type=int, default=2, help="re-runs on no majority before giving up (default 2)")
    p.add_argument("--scrub-budget", type=int, default=64 * 1024, help="bytes scrubbed per cycle (default 65536)")
    p.add_argument("--world", help="world adapter as module:factory (default: the manifest's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--per-episode", action="store_true", help="with --json, include each episode")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_fly)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("flight: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
