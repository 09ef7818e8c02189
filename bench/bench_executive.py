"""Executive benchmarks (issue 3): what the schedule costs around the replicas' inference.

1. Executive overhead per cycle (everything except the replicas' inference: sense, CRC capture,
   act, scrub, comm, health, telemetry, digest) against one TMR lander decision (`engine.infer`),
   interleaved in the same run. Limit 10%.
2. p99 cycle jitter (how late a minor frame starts against its deadline) at a 50 Hz minor frame,
   `flight serve`'s paced loop with the lander model and LunarLander in the loop. Limit 20% of the
   frame.
3. Scrubbing all three lander images within one major frame: the scrub task's time summed over
   one full pass, against the major frame's duration. Limit 5%.

    python bench/bench_executive.py [--quick]
"""

from __future__ import annotations

import time

from _common import flush, fmt_time, header, interleaved, parse_args, target
from _models import REPO

from flight import SlotStore, load_config, make_executive
from flight._serve import serve
from sim.lunar_lander import LunarLanderWorld

LANDER = REPO / "models" / "lander-discrete"


def lander_frames(n: int = 500):
    """Real observations from flying the lander, so every cycle computes on a realistic frame."""
    world = LunarLanderWorld()
    ex = make_executive(SlotStore.single(LANDER), load_config(), world, scheduling="serial")
    frames, obs, seed = [], world.reset(0), 0
    try:
        while len(frames) < n:
            frames.append(obs)
            result = ex.step([obs])
            obs, _, done = world.step(result.action)
            if done:
                seed += 1
                obs = world.reset(seed)
    finally:
        ex.close()
    return world, frames


def overhead(quick: bool) -> None:
    world, frames = lander_frames()
    ex = make_executive(SlotStore.single(LANDER), load_config(), world, scheduling="serial")
    engine = ex.stack.engine
    i = {"step": 0, "infer": 0}

    def step():
        i["step"] += 1
        ex.step([frames[i["step"] % len(frames)]])

    def infer():
        i["infer"] += 1
        engine.infer([frames[i["infer"] % len(frames)]], validated=True)

    t = interleaved({"executive.step": step, "engine.infer (TMR decision)": infer},
                    rounds=5 if quick else 15, round_s=0.2 if quick else 0.5)
    ex.close()
    world.close()
    print("\n-- 1. executive overhead per cycle, lander model, serial TMR --")
    for name in t.per_call:
        print(f"   {name:30s} median {fmt_time(t.median(name))}  best {fmt_time(t.best(name))}")
    ratio = t.ratio("executive.step", "engine.infer (TMR decision)") - 1.0
    target("executive overhead / TMR lander decision", ratio, 0.10,
           note=f"overhead {fmt_time(t.median('executive.step') - t.median('engine.infer (TMR decision)')).strip()} per cycle")
    flush()


class NullLink:
    def __init__(self):
        self.sent = 0

    def receive(self):
        return []

    def send(self, packet):
        self.sent += 1


def jitter(quick: bool) -> None:
    config = load_config()
    seconds = 4 if quick else 20
    cycles = int(seconds * config.schedule.minor_frame_hz)
    world = LunarLanderWorld()
    ex = make_executive(SlotStore.single(LANDER), config, world)
    t0 = time.monotonic()
    serve(ex, world, NullLink(), seed=0, max_cycles=cycles)
    wall = time.monotonic() - t0
    world.close()
    report = ex.timing_report()
    p50, p99, top = report.task_us[-1]  # the last row is the frame-start lateness
    frame_us = 1e6 / config.schedule.minor_frame_hz
    print(f"\n-- 2. cycle jitter, paced at {config.schedule.minor_frame_hz:g} Hz for {cycles} frames ({wall:.1f} s wall) --")
    print(f"   start lateness p50 {p50} us, p99 {p99} us, max {top} us; skipped slots {report.skipped_slots}; "
          f"task overruns {report.overruns}")
    for name, row in zip(("sense", "infer", "act", "scrub", "comm", "health"), report.task_us):
        print(f"   task {name:7s} p50 {row[0]:6d} us  p99 {row[1]:6d} us  max {row[2]:6d} us")
    target("p99 cycle jitter / minor frame", p99 / frame_us, 0.20, note=f"frame {frame_us / 1000:g} ms")
    flush()


def scrub_cost(quick: bool) -> None:
    config = load_config()
    world, frames = lander_frames(200)
    ex = make_executive(SlotStore.single(LANDER), config, world, scheduling="serial")
    scrubber = ex.stack.scrubber
    repeats = 200 if quick else 1000
    t0 = time.perf_counter()
    steps = 0
    for _ in range(repeats):
        passes = scrubber.statistics().full_passes
        while scrubber.statistics().full_passes == passes:
            scrubber.scrub_step(ex.models.scrub_budget)
            steps += 1
    per_pass = (time.perf_counter() - t0) / repeats
    ex.close()
    world.close()
    major_s = config.schedule.minor_frames / config.schedule.minor_frame_hz
    image = scrubber.pass_bytes
    print(f"\n-- 3. scrubbing the three lander images ({image} bytes per pass, budget {ex.models.scrub_budget} B/frame) --")
    print(f"   one full pass: {fmt_time(per_pass).strip()} in {steps / repeats:.0f} scrub tasks; "
          f"major frame {major_s * 1000:g} ms")
    target("scrub of all three lander images / major frame", per_pass / major_s, 0.05)
    flush()


def main() -> None:
    args = parse_args(__doc__)
    header("executive: overhead, jitter, scrub cost", args.quick)
    overhead(args.quick)
    jitter(args.quick)
    scrub_cost(args.quick)


if __name__ == "__main__":
    main()
