"""Telecommands decoded per second (issue 7, part 5): what a flood costs the flight.

- decode: `decode_command` on a valid NOOP, a valid SET_SCRUB_BUDGET, and random garbage;
- handle: `Commanding.uplink` + `step` (decode, verify, dispatch, the verification reports and
  events) for a queue of NOOPs, per command;
- refuse: `Commanding.uplink` on a full queue (the QUEUE_FULL report), per datagram.
Absolute rates, with one plain lander `session.run` beside them for scale.

    python bench/bench_commanding.py [--quick]
"""

from __future__ import annotations

import numpy as np
from _common import header, interleaved, parse_args, plain_runner, plain_session
from _models import lander_models

from flight import CommandCode, decode_command, encode_command
from flight.executive._commanding import MAX_TC_PER_COMM, MAX_TC_QUEUE, Commanding
from flight.executive._telemetry import Telemetry


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    header("bench_commanding: telecommands decoded per second", args.quick)
    rounds, round_s = (5, 0.05) if args.quick else (11, 0.15)
    noop = encode_command(CommandCode.NOOP, seq_count=1)
    budget = encode_command(CommandCode.SET_SCRUB_BUDGET, (8192,), seq_count=2)
    rng = np.random.default_rng(0)
    garbage = [rng.integers(0, 256, rng.integers(1, 40), dtype=np.uint8).tobytes() for _ in range(256)]
    g = iter(garbage * 10_000_000)

    def handle():
        telemetry = Telemetry()
        commanding = Commanding(telemetry)
        for _ in range(MAX_TC_PER_COMM):
            commanding.uplink(noop)
        commanding.step()

    full = Commanding(Telemetry())
    for _ in range(MAX_TC_QUEUE):
        full.uplink(noop)

    def refuse():
        full.uplink(noop)
        full.telemetry._pending.clear()

    lander = lander_models()[0]
    x = np.zeros((1, 8), np.float32)
    fns = {"plain lander run": plain_runner(plain_session(lander.plain_bytes), x),
           "decode NOOP": lambda: decode_command(noop), "decode SET_SCRUB_BUDGET": lambda: decode_command(budget),
           "decode garbage": lambda: decode_command(next(g)), f"handle {MAX_TC_PER_COMM} NOOPs": handle,
           "refuse (queue full)": refuse}
    t = interleaved(fns, rounds, round_s)
    for name in fns:
        per = t.median(name) / (MAX_TC_PER_COMM if name.startswith("handle") else 1)
        print(f"   {name:<26}{per * 1e6:>9.2f} us{1 / per:>14,.0f} per second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
