"""TMR cost per decision against one plain onnxruntime run.

Targets (ratios to one plain run: default SessionOptions, weights embedded, session.run):
- lander MLP: serial TMR `engine.infer([x])` <= 3.2x;
- every bench model whose plain run takes >= 1 ms (cnn 1e6, mlp 1e7, cnn 1e7 as they come out on
  this machine; judged when either the default or the one-thread plain run takes >= 1 ms, so a
  model is not excused because the default session used both cores): pooled TMR <= 2.2x on 2 cores.
  The ratio to the one-thread plain run is printed beside it: replicas run one thread each.
For information: plain with one intra-op thread, one replica's live-weight session alone
(`Replica.run`, IOBinding), simplex, duplex, serial and pooled TMR, and what AUTO scheduling picks.

All engines of one model share the booted replicas (the TMR stack from `flight.boot`); the
simplex/duplex/pooled engines are `TMREngine`s over the first 1/2/3 of them. Engines include input
validation and the vote: this is the whole per-decision cost.

    python bench/bench_tmr.py [--quick]
"""

from __future__ import annotations

from _common import fmt_time, header, interleaved, parse_args, plain_iobinding_runner, plain_runner, plain_session, target
from _models import bench_model, hazard_model, lander_models

import flight
from flight import Redundancy, Scheduling, TMREngine

POOLED_MIN_PLAIN_S = 1e-3
VARIANTS = ("plain", "plain-1thr", "plain-1thr-iob", "live-1replica", "simplex", "duplex", "tmr-serial", "tmr-pooled", "tmr-serial+fix")


def needs_run_options_fix(replicas) -> bool:
    """onnxruntime 1.32's Python `run_with_iobinding(binding, run_options)` calls
    `run_options.get_run_config_entry("gpu_graph_id")`, which raises (a C++ exception turned into a
    RuntimeError, ~30 us) when the entry is unset. True when flight's replicas pay that."""
    for r in replicas:
        ro = getattr(r, "run_options", None)
        if ro is None:
            continue
        try:
            ro.get_run_config_entry("gpu_graph_id")
        except RuntimeError:
            return True
    return False


def fix_run_options(replicas) -> None:
    """Set the entry to "-1" (no graph capture; what a CPU session does anyway)."""
    for r in replicas:
        r.run_options.add_run_config_entry("gpu_graph_id", "-1")


def measure(model, rounds: int, round_s: float) -> dict:
    stack = flight.boot(model.folder, redundancy="tmr", scheduling="serial")
    reps = stack.replicas
    x = stack.model.golden_inputs[0][0]
    engines = {
        "simplex": TMREngine(reps[:1], Redundancy.SIMPLEX, Scheduling.SERIAL),
        "duplex": TMREngine(reps[:2], Redundancy.DUPLEX, Scheduling.SERIAL),
        "tmr-serial": stack.engine,
        "tmr-pooled": TMREngine(reps, Redundancy.TMR, Scheduling.POOLED),
    }
    # What-if, measured beside the real thing: the same serial TMR with each replica's RunOptions
    # carrying an explicit "gpu_graph_id" entry (see fix_run_options). Separate replicas, so the
    # engines above run the flight code exactly as committed.
    fixed = None
    if needs_run_options_fix(reps):
        fixed = flight.boot(model.folder, redundancy="tmr", scheduling="serial", prove=False)
        fix_run_options(fixed.replicas)
        engines["tmr-serial+fix"] = fixed.engine
    auto = TMREngine(reps, Redundancy.TMR, Scheduling.AUTO)
    auto_choice = auto.scheduling.value
    auto.close()
    plain = plain_session(model.plain_bytes)
    plain1 = plain_session(model.plain_bytes, threads=1)
    # Sanity: the engines decide, and agree with plain closely (not bit-exactly: different configuration).
    import numpy as np

    ref = plain.run(None, {plain.get_inputs()[0].name: x})[0]
    for name, eng in engines.items():
        res = eng.infer([x])
        assert res.outputs is not None, f"{model.name} {name}: {res.outcome.name} {res.reason}"
        diff = float(np.max(np.abs(res.outputs[0] - ref)))
        assert diff < 1e-3 * max(1.0, float(np.max(np.abs(ref)))), f"{model.name} {name}: differs from plain by {diff}"
    fns = {
        "plain": plain_runner(plain, x),
        "plain-1thr": plain_runner(plain1, x),
        "plain-1thr-iob": plain_iobinding_runner(plain1, x),
        "live-1replica": lambda: reps[0].run([x]),
        **{name: (lambda eng=eng: eng.infer([x])) for name, eng in engines.items()},
    }
    t = interleaved(fns, rounds, round_s)
    for eng in engines.values():
        eng.close()
    stack.close()
    if fixed is not None:
        fixed.close()
    return dict(t=t, auto=auto_choice, fix=fixed is not None)


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    header("bench_tmr: TMR cost per decision vs one plain onnxruntime run", args.quick)
    rounds, round_s = (5, 0.04) if args.quick else (15, 0.12)
    landers = lander_models()
    sizes = [1e5, 1e6] if args.quick else [1e5, 1e6, 1e7]
    bench = [bench_model(k, s) for s in sizes for k in ("mlp", "cnn")]
    hazard = hazard_model()
    print(f"   ratios = median over {rounds} interleaved rounds of same-round time / plain time "
          "(best-of ratio in brackets for TMR)")
    print(f"{'model':<20}{'params':>10}{'plain':>12} |{'1thr':>6}{'live1':>7}{'simplex':>8}{'duplex':>8}"
          f"{'TMR ser':>16}{'TMR pool':>16}{'ser+fix':>8}  auto   |{'1thr-IOB':>12}{'TMR ser':>8}{'TMR pool':>9}")
    results = {}
    for m in landers + [hazard] + bench:
        r = measure(m, rounds, round_s)
        t = r["t"]
        results[m.name] = (m, r)
        ratio = {v: t.ratio(v, "plain") for v in VARIANTS if v in t.per_call}
        best = {v: t.ratio_best(v, "plain") for v in VARIANTS if v in t.per_call}
        print(f"{m.name:<20}{m.parameters:>10,}{fmt_time(t.median('plain')):>12} |"
              f"{ratio['plain-1thr']:>6.2f}{ratio['live-1replica']:>7.2f}{ratio['simplex']:>8.2f}{ratio['duplex']:>8.2f}"
              f"{ratio['tmr-serial']:>8.2f} [{best['tmr-serial']:>4.2f}]{ratio['tmr-pooled']:>8.2f} [{best['tmr-pooled']:>4.2f}]"
              + (f"{ratio['tmr-serial+fix']:>8.2f}" if r["fix"] else f"{'-':>8}") + f"  {r['auto']:<6}|"
              f"{fmt_time(t.median('plain-1thr-iob')):>12}{t.ratio('tmr-serial', 'plain-1thr-iob'):>8.2f}"
              f"{t.ratio('tmr-pooled', 'plain-1thr-iob'):>9.2f}", flush=True)
    print("   1thr: plain with one intra-op thread; live1: one replica's live-weight session alone (Replica.run);")
    print("   vs 1thr-IOBinding: the same one-thread session called through IOBinding with preallocated buffers,")
    print("   the kindest plain baseline (TMR's ratio to it is the honest cost of three replicas and a vote)")
    print("   ser+fix: serial TMR with each replica's RunOptions given gpu_graph_id=-1 (what-if for a flight fix; "
          "'-' = nothing to fix: flight already sets it, or has no RunOptions)")
    print()
    for m in landers:
        t = results[m.name][1]["t"]
        target(f"tmr-serial/{m.name}", t.ratio("tmr-serial", "plain"), 3.2,
               note=f"best-of {t.ratio_best('tmr-serial', 'plain'):.2f}x; vs 1-thread IOBinding "
                    f"{t.ratio('tmr-serial', 'plain-1thr-iob'):.2f}x")
    for m in bench:
        t = results[m.name][1]["t"]
        plain_s, plain1_s = t.median("plain"), t.median("plain-1thr")
        if max(plain_s, plain1_s) < POOLED_MIN_PLAIN_S:
            print(f"   (no pooled target for {m.name}: plain run {fmt_time(plain_s).strip()}, "
                  f"1-thread {fmt_time(plain1_s).strip()}, both < 1 ms)")
            continue
        target(f"tmr-pooled/{m.name}", t.ratio("tmr-pooled", "plain"), 2.2,
               note=(f"best-of {t.ratio_best('tmr-pooled', 'plain'):.2f}x; vs 1-thread plain "
                     f"{t.ratio('tmr-pooled', 'plain-1thr'):.2f}x"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
