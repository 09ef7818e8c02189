"""Campaign engine speed (issue 8): per-trial cost against one fault-free decision in the same
mode, TMR single-fault trials/s per core, a simulated year of LEO, and mission episodes/s against
a minimal loop of the same world and a bare TMR decision. Plain onnxruntime in the same run for scale.

    python bench/bench_campaign.py [--quick]
"""

from __future__ import annotations

import time

import numpy as np
from _common import (
    REPO,
    flush,
    header,
    interleaved,
    parse_args,
    plain_runner,
    plain_session,
    target,
)

from flight import Redundancy

MODEL = REPO / "models" / "lander-discrete"


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    header("campaign engine", args.quick)
    from fault_injection._campaign import campaign_from_dict
    from fault_injection._environments import load_preset
    from fault_injection._missions import MissionTrials
    from fault_injection._trials import InferenceTrials

    rounds, round_s = (3, 0.2) if args.quick else (7, 0.5)
    exp = campaign_from_dict({"name": "b", "model": str(MODEL), "modes": ["simplex", "tmr"], "trials": 1}).experiments[0]
    trials = InferenceTrials(exp)
    rng = np.random.default_rng(0)
    records = [trials.sample(rng, "weights", int(rng.integers(0, len(trials.golden)))) for _ in range(4096)]
    x = trials.model.golden_inputs[0]
    plain = plain_runner(plain_session((MODEL / "model.onnx").read_bytes(), threads=1), x[0])
    it = {"i": 0}
    # The faults whose trials end masked: the engine's fast path, so what remains is the harness.
    masked = [r for r in records if trials.run_trial("tmr", r)[0] == "masked"][:1024]

    def trial(mode, pool=records):
        size = len(pool)

        def run():
            it["i"] = (it["i"] + 1) % size
            trials.run_trial(mode, pool[it["i"]])
        return run

    fns = {"plain ort forward": plain}
    for mode in ("simplex", "tmr"):
        engine = trials.stacks[Redundancy(mode)].engine
        fns[f"{mode} fault-free decision"] = (lambda e=engine: e.infer(x, validated=True))
        fns[f"{mode} trial"] = trial(mode)
    fns["tmr trial, masked faults only"] = trial("tmr", masked)
    t = interleaved(fns, rounds, round_s)
    for name in fns:
        print(f"   {name:28s} {t.median(name) * 1e6:8.2f} us  ({t.ratio(name, 'plain ort forward'):.2f}x plain ort)")
    for mode in ("simplex", "tmr"):
        target(f"campaign: {mode} trial / fault-free {mode} decision", t.ratio(f"{mode} trial", f"{mode} fault-free decision"), 1.5)
    print(f"   harness alone (masked faults, the engine's fast path): "
          f"{t.ratio('tmr trial, masked faults only', 'tmr fault-free decision'):.2f}x a fault-free TMR decision; the rest "
          "of a trial's cost is the engine's corrected and re-execution paths, which the faults exercise")
    flush()

    # Trials/s per core, with sampling, records, classification and tallies: a whole shard.
    exp1 = campaign_from_dict({"name": "b1", "model": str(MODEL), "modes": ["tmr"], "trials": 1}).experiments[0]
    t1 = InferenceTrials(exp1)
    n = 2000 if args.quick else 10_000
    t1.run_shard(0, 200)
    t0 = time.perf_counter()
    t1.run_shard(1, n)
    rate = n / (time.perf_counter() - t0)
    print(f"   TMR single-fault trials: {rate:,.0f}/s on one core (plain ort forward: {1 / t.median('plain ort forward'):,.0f}/s)")
    target("campaign: TMR single-fault inference trials per second per core", rate, 20_000, higher_is_better=True, unit="/s")
    flush()

    # One simulated year of LEO, event-driven: draw the year's upsets over the three images, and
    # for each, apply it, run a decision, classify, and let the scrubber repair it (LEO's upsets
    # arrive days apart, far longer than one scrub pass, so each is alone in its window).
    env = load_preset("leo")
    tmr = trials.stacks[Redundancy("tmr")]
    bits = int(sum(ti.bits for ti in trials.weight_tensors)) * 3
    t0 = time.perf_counter()
    times = env.upset_times(np.random.default_rng(1), bits, 0.0, 365.25 * 86400)
    outcomes = {}
    yr_rng = np.random.default_rng(2)
    for _ in times:
        rec = trials.sample(yr_rng, "weights", int(yr_rng.integers(0, len(trials.golden))))
        o, _, _ = trials.run_trial("tmr", rec)
        outcomes[o] = outcomes.get(o, 0) + 1
        tmr.scrubber.scrub_all()
    year_s = time.perf_counter() - t0
    print(f"   one LEO year: {len(times)} upsets over {bits:,} bits, outcomes {outcomes}, {year_s * 1e3:.1f} ms")
    target("campaign: one simulated LEO year (lander, TMR)", year_s, 60.0, unit=" s",
           note="event-driven: upsets alone in their scrub window")
    flush()

    # Mission episodes: the executive in the loop against world + bare TMR decision.
    mexp = campaign_from_dict({"name": "m", "model": str(MODEL), "kind": "mission", "modes": ["tmr+scrub"],
                               "environment": "leo", "episodes": 1}).experiments[0]
    mt = MissionTrials(mexp)
    eps = 4 if args.quick else 10
    from flight import load_world
    world = load_world(mt.world_spec)
    engine = tmr.engine

    def minimal():
        for s in range(eps):
            obs = world.reset(s)
            done = False
            while not done:
                r = engine.infer([obs])
                obs, _, done = world.step(int(np.argmax(r.outputs[0])))

    from fault_injection._missions import Radiation
    def campaign_eps():
        rad = Radiation(mexp, np.random.default_rng(0), mt.dt, mt.tensors, mt.cum)
        mt._fly("tmr+scrub", world, rad, 0, eps)

    tm = interleaved({"minimal loop": minimal, "campaign episodes": campaign_eps}, 3 if args.quick else 5, 0.1)
    ratio = tm.ratio("minimal loop", "campaign episodes")
    print(f"   {eps} episodes: minimal loop {tm.median('minimal loop'):.3f} s, campaign {tm.median('campaign episodes'):.3f} s")
    target("campaign: mission episodes/s vs minimal world + bare TMR loop", ratio, 0.8, higher_is_better=True,
           note="includes one executive boot per shard and a shadow replica per decision")
    world.close()
    mt.close()
    pytorchfi_peer(trials, rate, args.quick)


def pytorchfi_peer(trials, our_rate: float, quick: bool) -> None:
    """PyTorchFI 0.6.0 on the same MLP (weights copied from the model), one weight bit flip per
    trial through `declare_weight_fi` (it deep-copies the model per fault), classified against the
    clean output. Optional: torch and pytorchfi are not project dependencies."""
    try:
        import torch
        from pytorchfi.core import fault_injection as PyTorchFI
    except ImportError:
        print("   PyTorchFI peer: skipped (torch and pytorchfi not installed; not project dependencies)")
        return
    import logging
    logging.disable(logging.CRITICAL)
    torch.set_num_threads(1)
    w = trials.model.tensors
    net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 4)).eval()
    with torch.no_grad():
        for layer, name in ((net[0], "fc1"), (net[2], "fc2"), (net[4], "fc3")):
            layer.weight.copy_(torch.from_numpy(np.array(w[f"{name}.weight"])))
            layer.bias.copy_(torch.from_numpy(np.array(w[f"{name}.bias"])))
    x = torch.from_numpy(np.array(trials.model.golden_inputs[0][0]))
    with torch.no_grad():
        clean = net(x)
    assert np.allclose(clean.numpy(), trials.model.golden_outputs[0][0], atol=1e-4), "torch copy differs from ONNX"
    pfi = PyTorchFI(net, batch_size=1, input_shape=[8], layer_types=[torch.nn.Linear], use_cuda=False)
    rng = np.random.default_rng(0)
    shapes = [(64, 8), (64, 64), (4, 64)]
    n = 300 if quick else 2000
    faults = []
    for _ in range(n):
        layer = int(rng.integers(0, 3))
        k, c = int(rng.integers(0, shapes[layer][0])), int(rng.integers(0, shapes[layer][1]))
        bit = int(rng.integers(0, 32))
        faults.append((layer, k, c, bit))
    sdc = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for layer, k, c, bit in faults:
            old = np.float32(net[2 * layer].weight[k, c].item())
            value = float(np.array([old]).view(np.uint32).__xor__(np.uint32(1 << bit)).view(np.float32)[0])
            corrupted = pfi.declare_weight_fi(layer_num=[layer], k=[k], dim1=[c], dim2=[None], dim3=[None], value=[value])
            sdc += not torch.equal(corrupted(x), clean)
    peer = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(n):
            net(x)
    forward = n / (time.perf_counter() - t0)
    print(f"   PyTorchFI {n} weight-bit trials: {peer:,.0f}/s ({forward / peer:.0f}x one torch forward, "
          f"{sdc} changed outputs, no mitigation); ours: {our_rate:,.0f}/s TMR trials, {our_rate / peer:.1f}x PyTorchFI")


if __name__ == "__main__":
    main()
