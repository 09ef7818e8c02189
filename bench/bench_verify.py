"""What a verified disagreement costs (issue 7): the engine checks every voting image's CRCs before it
releases anything short of unanimous.

For the lander and the largest bench model, per decision, in the same interleaved run:
- plain: one default onnxruntime `session.run`; plain-1thr-iob: one thread through IOBinding;
- tmr unanimous: `engine.infer` with three agreeing replicas (the fast path: never verifies);
- disagreement, images clean: one replica's output corrupted during computation (an instrument);
  the engine verifies three images, finds them clean, releases the 2-of-3 majority;
- disagreement, image hit: one replica's weight flipped; the engine verifies, repairs it through
  the scrubber, runs the three again and releases (the flip is put back before the next call).
The unanimous path must cost what it cost before verification existed: it runs no extra code.

    python bench/bench_verify.py [--quick]
"""

from __future__ import annotations

from _common import fmt_time, header, interleaved, parse_args, plain_iobinding_runner, plain_runner, plain_session
from _models import bench_model, lander_models

import flight


class CorruptOne(flight.Instrument):
    """Adds 1.0 to replica 2's first output element (an upset in its computation) while armed."""

    armed = False

    def after_replica(self, engine, replica, outputs):
        if self.armed and replica.index == 2:
            outputs[0].reshape(-1)[0] += 1.0


def measure(model, rounds: int, round_s: float):
    corrupt = CorruptOne()
    stack = flight.boot(model.folder, redundancy="tmr", scheduling="serial", prove=False, instruments=[corrupt])
    engine, x = stack.engine, stack.model.golden_inputs[0][0]
    tensor = stack.replicas[0].image.layout.tensors[-1].name

    def unanimous():
        engine.infer([x])

    def computation_upset():
        corrupt.armed = True
        try:
            result = engine.infer([x])
        finally:
            corrupt.armed = False
        assert result.outcome is flight.InferenceOutcome.CORRECTED

    def image_upset():
        stack.replicas[1].image.flip_bit(tensor, 0, 30)
        result = engine.infer([x])
        if stack.replicas[1].image.bad_chunks():  # the flip did not reach the output: undo it here
            stack.replicas[1].image.flip_bit(tensor, 0, 30)

    image_upset()
    plain, plain1 = plain_session(model.plain_bytes), plain_session(model.plain_bytes, threads=1)
    fns = {"plain": plain_runner(plain, x), "plain-1thr-iob": plain_iobinding_runner(plain1, x),
           "tmr unanimous": unanimous, "verified, clean": computation_upset, "verified, repaired": image_upset}
    t = interleaved(fns, rounds, round_s)
    stack.close()
    return t


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    header("bench_verify: the cost of verifying a disagreement", args.quick)
    rounds, round_s = (5, 0.05) if args.quick else (11, 0.15)
    models = [lander_models()[0], bench_model("cnn", 1e6 if args.quick else 1e7)]
    print(f"{'model':<18}{'plain':>11}{'1thr-iob':>11}{'TMR unan.':>11}{'verif.clean':>13}{'verif.repair':>14}"
          f"  | ratios to TMR unanimous: clean, repaired")
    for m in models:
        t = measure(m, rounds, round_s)
        print(f"{m.name:<18}{fmt_time(t.median('plain')):>11}{fmt_time(t.median('plain-1thr-iob')):>11}"
              f"{fmt_time(t.median('tmr unanimous')):>11}{fmt_time(t.median('verified, clean')):>13}"
              f"{fmt_time(t.median('verified, repaired')):>14}  | "
              f"{t.ratio('verified, clean', 'tmr unanimous'):.2f}x, {t.ratio('verified, repaired', 'tmr unanimous'):.2f}x",
              flush=True)
    print("   verified, clean: three full CRC checks of the images, then release; verified, repaired: checks,")
    print("   a majority repair of one chunk, and a second run of all three replicas")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
