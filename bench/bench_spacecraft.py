"""Spacecraft benchmarks (issue 10): what TMR inside the executive costs a Basilisk episode.

1. TMR's share of an episode's wall time: one 900 s episode (1,800 control frames, 9,000 Basilisk
   dynamics steps) of the attitude model flown by `flight fly`'s loop (executive, serial TMR,
   scrubbing, telemetry) against the same episode flown by one plain onnxruntime session (default
   options, `session.run`), and against one plain one-thread session called through IOBinding with
   pre-bound buffers; the world alone (zero torque, no inference) shows Basilisk's share. Limit 10%.
2. Episodes per second of each, from the same timings.

Episodes are timed whole and interleaved (each round flies every variant once, in rotating order);
ratios are medians of same-round ratios.

    python bench/bench_spacecraft.py [--quick]
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from _common import flush, fmt_time, header, interleaved, parse_args, plain_session, target
from _models import REPO

from flight import SlotStore, fly, load_config, make_executive
from sim.spacecraft import SpacecraftWorld

MODEL = REPO / "models" / "attitude-rw"
SEED = 200000  # a held-out seed: the model points on it


def plain_episode(world: SpacecraftWorld, run) -> None:
    obs = world.reset(SEED)
    done = False
    while not done:
        obs, _, done = world.step(world.action_from_outputs([run(obs)]))


def iobinding_runner(model_bytes: bytes):
    """One intra-op thread, input and output bound once; each call copies the frame in and runs."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    x = np.zeros((1, 9), np.float32)
    y = np.zeros((1, 3), np.float32)
    x_value, y_value = ort.OrtValue.ortvalue_from_numpy(x), ort.OrtValue.ortvalue_from_numpy(y)  # wrap, no copy
    binding = sess.io_binding()
    binding.bind_ortvalue_input(sess.get_inputs()[0].name, x_value)
    binding.bind_ortvalue_output(sess.get_outputs()[0].name, y_value)

    def run(obs: np.ndarray) -> np.ndarray:
        x[...] = obs
        sess.run_with_iobinding(binding)
        return y

    run.keep = (x_value, y_value, binding)  # the OrtValues wrap x and y: keep all alive together
    return run


def main() -> None:
    args = parse_args(__doc__)
    header("spacecraft: TMR's share of a Basilisk episode", args.quick)
    model_bytes = (MODEL / "model.onnx").read_bytes()
    world = SpacecraftWorld()
    executive = make_executive(SlotStore.single(MODEL), load_config(), world, redundancy="tmr", scheduling="serial")
    plain = plain_session(model_bytes)
    plain_name = plain.get_inputs()[0].name
    bound = iobinding_runner(model_bytes)
    outcome: dict[str, str] = {}

    def flown() -> None:
        summary = fly(executive, world, 1, SEED)
        outcome["flight fly"] = summary.per_episode[0]["outcome"]

    def plain_run() -> None:
        plain_episode(world, lambda obs: plain.run(None, {plain_name: obs})[0])
        outcome["plain"] = world.outcome().outcome

    def bound_run() -> None:
        plain_episode(world, bound)
        outcome["iobinding"] = world.outcome().outcome

    zero = np.zeros(3)

    def world_only() -> None:
        world.reset(SEED)
        done = False
        while not done:
            _, _, done = world.step(zero)

    variants = {
        "flight fly (executive, TMR)": flown,
        "plain session.run": plain_run,
        "plain 1-thread IOBinding": bound_run,
        "world only (no inference)": world_only,
    }
    try:
        t = interleaved(variants, rounds=3 if args.quick else 7, round_s=0.1)
    finally:
        executive.close()
        world.close()
    frames = 1800
    print("\n-- 1. one 900 s episode (1,800 frames), seed", SEED, "--")
    for name in variants:
        print(f"   {name:30s} median {fmt_time(t.median(name))}  best {fmt_time(t.best(name))}  "
              f"per frame {fmt_time(t.median(name) / frames)}")
    print(f"   outcomes: {outcome}")
    for base in ("plain session.run", "plain 1-thread IOBinding"):
        ratio = t.ratio("flight fly (executive, TMR)", base)
        print(f"   flight fly / {base}: {ratio:.3f}x median of rounds, {t.ratio_best('flight fly (executive, TMR)', base):.3f}x best")
    share = t.ratio("world only (no inference)", "flight fly (executive, TMR)")
    print(f"   Basilisk's share of a flight fly episode: {share:.1%}")
    target("flight fly episode / plain session.run episode - 1", t.ratio("flight fly (executive, TMR)",
           "plain session.run") - 1.0, 0.10)
    target("flight fly episode / plain 1-thread IOBinding episode - 1", t.ratio("flight fly (executive, TMR)",
           "plain 1-thread IOBinding") - 1.0, 0.10, note="the stricter baseline")
    print("\n-- 2. episodes per second (median round) --")
    for name in variants:
        print(f"   {name:30s} {1.0 / t.median(name):6.2f} episodes/s")
    flush()


if __name__ == "__main__":
    main()
