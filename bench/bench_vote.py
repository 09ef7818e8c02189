"""The vote's cost against one inference.

Target: `flight.vote` over three replica outputs costs < 2% of one plain onnxruntime run (default
SessionOptions, weights embedded) of the same model, on both paths:
- unanimous: three bit-identical outputs (the byte-equal fast path, every cycle),
- corrected: one replica's output with one flipped low mantissa bit (the element-wise 2-of-3 path,
  taken only after an upset),
for every committed model folder in models/ (a subfolder with manifest.yaml). The bench models are printed for information (1e7 ones skipped in --quick).

    python bench/bench_vote.py [--quick]
"""

from __future__ import annotations

import numpy as np
from _common import fmt_time, header, interleaved, parse_args, plain_runner, plain_session, target
from _models import _committed, bench_model, committed_folders

import flight

LIMIT = 0.02


def measure(model, rounds: int, round_s: float):
    stack = flight.boot(model.folder, redundancy="tmr", scheduling="serial", prove=False)
    x = stack.model.golden_inputs[0][0]
    specs = stack.model.manifest.outputs
    outs = [r.run_copy([x]) for r in stack.replicas]
    hit = [o.copy() for o in outs[2]]
    flat = hit[0].reshape(-1)
    flat.view(np.dtype(f"uint{flat.dtype.itemsize * 8}"))[flat.size // 2] ^= 1  # lowest mantissa bit
    corrected = [outs[0], outs[1], hit]
    assert flight.vote(outs, specs).outcome is flight.VoteOutcome.UNANIMOUS
    res = flight.vote(corrected, specs)
    assert res.outcome is flight.VoteOutcome.CORRECTED and res.suspects == {2}, res
    plain = plain_session(model.plain_bytes)
    fns = {
        "plain": plain_runner(plain, x),
        "vote unanimous": lambda: flight.vote(outs, specs),
        "vote corrected": lambda: flight.vote(corrected, specs),
    }
    t = interleaved(fns, rounds, round_s)
    stack.close()
    return t, sum(o.size for o in outs[0])


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    header("bench_vote: vote cost vs one plain onnxruntime run", args.quick)
    rounds, round_s = (5, 0.03) if args.quick else (15, 0.1)
    judged = [_committed(f) for f in committed_folders()]
    sizes = [1e5, 1e6] if args.quick else [1e5, 1e6, 1e7]
    info = [bench_model(k, s) for s in sizes for k in ("mlp", "cnn")]
    print(f"   median of {rounds} interleaved rounds; ratio = median of same-round vote/plain ratios")
    print(f"{'model':<22}{'origin':<15}{'outputs':>8}{'plain':>12}{'unanimous':>12}{'ratio':>8}"
          f"{'corrected':>12}{'ratio':>8}")
    results = []
    for m in judged + info:
        t, n_out = measure(m, rounds, round_s)
        results.append((m, t))
        print(f"{m.name:<22}{m.origin:<15}{n_out:>8}{fmt_time(t.median('plain')):>12}"
              f"{fmt_time(t.median('vote unanimous')):>12}{t.ratio('vote unanimous', 'plain'):>8.3f}"
              f"{fmt_time(t.median('vote corrected')):>12}{t.ratio('vote corrected', 'plain'):>8.3f}", flush=True)
    print()
    for m, t in results[: len(judged)]:
        for path in ("unanimous", "corrected"):
            r = t.ratio(f"vote {path}", "plain")
            target(f"vote-{path}/{m.name}", r, LIMIT,
                   note=f"vote {fmt_time(t.median(f'vote {path}')).strip()}, plain {fmt_time(t.median('plain')).strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
