"""The `fault-inject` program: single upsets (`flip`), campaigns, replay of a fault record, and the
lander flown under a radiation environment (`fly`).

Every bad input is one line on stderr and a non-zero exit: 2 for a usage error (argparse), 1 for a
refusal (a bad campaign file, record or model, a failed gate)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flight import (
    Redundancy,
    SeuguardError,
    SlotStore,
    fly,
    load_config,
    load_manifest,
    load_world,
    make_executive,
)

from ._faults import BitFlip, FlipAtCycle


def cmd_flip(args: argparse.Namespace) -> int:
    """One upset, persisting until scrubbed: the same episodes flown clean and with the flip."""
    results = {}
    mission = {}
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
            mission[label] = "  ".join(f"{key} {count}" for key, count in summary.outcomes.items())
            for key in ("per_episode", "events"):
                results[label].pop(key)
    except SeuguardError as exc:
        print(f"fault-inject: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results))
    else:
        for label, r in results.items():
            print(f"{label:6s} {mission[label]} (of {r['episodes']})  "
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


def _fail(message: str, as_json: bool = False) -> int:
    if as_json:
        print(json.dumps({"ok": False, "error": message}))
    print(f"fault-inject: error: {message}", file=sys.stderr)
    return 1


def _progress_bar(enabled: bool, what: str):
    if not enabled:
        return None, None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
    task = progress.add_task(what, total=None)
    return progress, lambda done, total: progress.update(task, completed=done, total=total)


def cmd_campaign(args: argparse.Namespace) -> int:
    """Run a campaign file; report; evaluate its gates (exit 1 when one fails)."""
    from ._campaign import load_campaign
    from ._gates import evaluate, write_junit
    from ._report import contract_json, summarize, text_table, write_report
    from ._runner import run_campaign

    if args.workers is not None and args.workers < 1:
        return _usage(f"--workers must be >= 1, got {args.workers}")
    try:
        campaign = load_campaign(args.config)
        show = not args.json and sys.stderr.isatty()
        progress, advance = _progress_bar(show, f"campaign {campaign.name}")
        if progress is not None:
            with progress:
                result = run_campaign(campaign, args.workers, args.scheduler, advance)
        else:
            result = run_campaign(campaign, args.workers, args.scheduler)
        summary = summarize(result)
        gates = evaluate(campaign.gates, summary)
        summary["gates"] = [{"gate": g.gate.text, "passed": g.passed, "detail": g.detail} for g in gates]
        written = []
        if args.report is not None:
            written = write_report(args.report, summary, gates)
            _write_records(args.report, campaign, summary)
        if args.junit is not None:
            write_junit(args.junit, campaign.name, gates, result.seconds)
    except SeuguardError as exc:
        return _fail(str(exc), args.json)
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc.__class__.__name__}", args.json)
    except Exception as exc:  # noqa: BLE001 - a worker that died is one line, never a traceback
        return _fail(f"campaign stopped: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                     args.json)
    if args.json:
        print(json.dumps(contract_json(summary)))
    else:
        print(text_table(summary))
        print(f"{result.trials} trials in {result.seconds:.1f} s ({summary['trials_per_second']:.0f}/s, {result.executor})")
        for g in gates:
            print(f"gate {'pass' if g.passed else 'FAIL'}: {g.gate.text}  ({g.detail})")
        for path in written:
            if path.suffix in (".png", ".md"):
                print(f"report: {path}")
    failed = [g for g in gates if not g.passed]
    if failed:
        print(f"fault-inject: {len(failed)} gate(s) failed: {failed[0].gate.text} ({failed[0].detail})", file=sys.stderr)
        return 1
    return 0


def _write_records(directory: Path, campaign, summary: dict) -> None:
    """Each kept example record as its own file, ready for `fault-inject replay`."""
    out = Path(directory) / "records"
    out.mkdir(parents=True, exist_ok=True)
    for exp in campaign.experiments:
        if exp.kind != "inference":
            for mode, per in summary["experiments"][exp.name]["examples"].items():
                for rec in per.get("mission", ())[:1]:  # the first shard, flown as one mission
                    (out / f"{exp.name}-{mode}-mission.json").write_text(json.dumps(
                        {"model": exp.model, "world": exp.world, "flight_config": exp.flight_config,
                         "mission": rec}, indent=1))
            continue
        for mode, per in summary["experiments"][exp.name]["examples"].items():
            for outcome, records in per.items():
                for i, rec in enumerate(records):
                    path = out / f"{exp.name}-{mode}-{outcome}-{i}.json"
                    path.write_text(json.dumps({"model": exp.model, "record": rec}, indent=1))


def cmd_replay(args: argparse.Namespace) -> int:
    """Run one recorded fault again and check it gives the same outcome and output bytes."""
    from ._replay import ReplayError, replay_record

    try:
        outcome = replay_record(args.record, args.model)
    except (SeuguardError, ReplayError) as exc:
        return _fail(str(exc), args.json)
    if args.json:
        print(json.dumps(outcome))
    elif "episodes" in outcome:
        print(f"{outcome['mode']}: {outcome['episodes']} episodes, {outcome['upsets']} upsets re-applied; outcomes "
              + ("identical" if outcome["outcomes"] == outcome["recorded_outcomes"] else "DIFFERENT")
              + "; telemetry " + ("identical" if outcome["telemetry_sha256"] == outcome["recorded_telemetry_sha256"]
                                  else "DIFFERENT"))
    else:
        print(f"{outcome['mode']}: {outcome['outcome']} (recorded {outcome['recorded_outcome']}); output "
              f"{outcome['output_sha256'] or '(none)'} (recorded {outcome['recorded_output_sha256'] or '(none)'}): "
              + ("identical" if outcome["identical"] else "DIFFERENT"))
    return 0 if outcome["identical"] else 1


def cmd_fly(args: argparse.Namespace) -> int:
    """The lander flown under a radiation environment; the same JSON keys as `flight fly`."""
    import numpy as np

    from ._campaign import Experiment, FaultSpec
    from ._environments import resolve_environment
    from ._missions import MissionTrials, Radiation, executive_for_shard

    if args.episodes < 1:
        return _usage(f"--episodes must be >= 1, got {args.episodes}")
    if args.acceleration <= 0:
        return _usage(f"--acceleration must be > 0, got {args.acceleration}")
    executive = world = None
    try:
        env = resolve_environment({"preset": args.environment, "acceleration": args.acceleration})
        if not (args.model / "manifest.yaml").is_file():
            raise SeuguardError(f"--model {args.model}: no model folder (manifest.yaml) there")
        exp = Experiment(name="fly", kind="mission", model=str(args.model.resolve()), seed=args.seed,
                         modes=(args.redundancy,), fault=FaultSpec(), targets=(("weights", 1.0),),
                         trials=args.episodes, shard_size=args.episodes, deadline_ms=3.6e6, environment=env,
                         episodes=args.episodes)
        trials = MissionTrials(exp)
        trials.close()
        world = load_world(trials.world_spec)
        radiation = Radiation(exp, np.random.default_rng([args.seed, 0, 7]), trials.dt, trials.tensors, trials.cum)
        executive = executive_for_shard(exp, args.redundancy, world, [radiation])
        progress, advance = _progress_bar(not args.json and sys.stderr.isatty(), f"{args.redundancy} under {env.name}")
        if progress is not None:
            done = [0]

            def on_episode(_outcome) -> None:
                done[0] += 1
                advance(done[0], args.episodes)

            with progress:
                summary = fly(executive, world, args.episodes, args.seed, on_episode=on_episode)
        else:
            summary = fly(executive, world, args.episodes, args.seed)
    except SeuguardError as exc:
        return _fail(str(exc), args.json)
    finally:
        if executive is not None:
            executive.close()
        if world is not None:
            world.close()
    d = summary.to_dict()
    d["redundancy"] = args.redundancy
    if args.json:
        d.pop("per_episode")
        d.pop("events")
        print(json.dumps(d))
    else:
        outcomes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.outcomes.items())
        print(f"{args.redundancy} under {env.name} x{env.acceleration:g}: {outcomes} of {d['episodes']}; "
              f"upsets {radiation.upsets}, corrected votes "
              f"{d['votes_corrected']}, chunks repaired {d['chunks_repaired']}, unrecoverable {d['unrecoverable']}")
    return 0


def _usage(message: str) -> int:
    print(f"fault-inject: error: {message}", file=sys.stderr)
    return 2


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

    c = sub.add_parser("campaign", help="run a fault-injection campaign file and evaluate its gates",
                       description="Run the campaign (YAML), print the outcome table (or --json), write a "
                       "report, and exit 1 when a gate fails. The same seed gives the same counts for any "
                       "worker count.")
    c.add_argument("config", type=Path, help="campaign YAML")
    c.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    c.add_argument("--scheduler", metavar="ADDRESS", help="a Dask distributed scheduler (tcp://host:port)")
    c.add_argument("--report", type=Path, metavar="DIR", help="write summary.json, report.md, PNG plots, records/")
    c.add_argument("--junit", type=Path, metavar="FILE", help="write the gates as JUnit XML")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.set_defaults(func=cmd_campaign)

    r = sub.add_parser("replay", help="replay one fault record bit-exactly",
                       description="Run a recorded fault again (a file from a report's records/ folder) "
                       "and check the outcome and the output bytes are the ones recorded; a mission record "
                       "re-flies its episodes with the same upsets at the same cycles and checks every "
                       "outcome and the telemetry digest. Exit 1 if anything differs.")
    r.add_argument("record", type=Path)
    r.add_argument("--model", type=Path, help="model folder (default: the one named in the record)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_replay)

    from ._campaign import MODES
    from ._environments import PRESETS
    f = sub.add_parser("fly", help="fly the lander under a radiation environment",
                       description="Fly seeded episodes with upsets drawn from an environment (a Poisson "
                       "process over mission time, accelerated). Prints the same JSON keys as `flight fly`.")
    f.add_argument("--model", type=Path, default=Path("models/lander-discrete"))
    f.add_argument("--environment", choices=PRESETS, default="solar-storm")
    f.add_argument("--acceleration", type=float, default=1.0, help="time-acceleration factor of the upset rate")
    f.add_argument("--redundancy", choices=MODES, default="tmr+scrub")
    f.add_argument("--episodes", type=int, default=5)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_fly)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("fault-inject: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other tools do
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
