"""Majority repair throughput, and the scrubber's full pass, per byte.

Target: `flight.majority_repair([a, b, c])` on three 64 MiB images runs at >= 1 GB/s of image bytes
(64 MiB / time) when one image carries a few hundred scattered bit flips (realistic: LEO's 4e-7
upsets/bit/day is ~215 a day in 64 MiB). Also the worst case, where every 64 KiB block differs, and
a clean pass; each with its ratio to memcpy (`np.copyto` of 64 MiB) measured in the same run.
Faults are re-injected before every timed call, outside the timing.

Then `Scrubber.scrub_all()` over the three replica images of bench-mlp-1e7 (bench-mlp-1e6 in
--quick): clean, and with a few hundred flips in one replica, in ns per byte checked.

    python bench/bench_repair.py [--quick]
"""

from __future__ import annotations

import numpy as np
from _common import fmt_time, header, interleaved, parse_args, target
from _models import bench_model

import flight
from flight import ImageLayout, Scrubber, WeightImage

MiB = 1 << 20
FLIPS = 300
BLOCK = 64 * 1024


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    header("bench_repair: bitwise majority repair and scrub throughput", args.quick)
    rounds, round_s = (4, 0.1) if args.quick else (11, 0.4)
    rng = np.random.default_rng(1)
    n = 64 * MiB
    a = np.frombuffer(rng.bytes(n), dtype=np.uint8).copy()
    b, c = a.copy(), a.copy()
    dst = np.empty_like(a)
    dst[...] = 1
    ref = a.copy()

    def inject_scattered() -> None:
        pos = rng.integers(0, n, FLIPS)
        c[pos] ^= (np.uint8(1) << rng.integers(0, 8, FLIPS).astype(np.uint8))

    starts = np.arange(0, n, BLOCK)

    def inject_every_block() -> None:
        pos = starts + rng.integers(0, BLOCK, starts.size)
        c[pos] ^= (np.uint8(1) << rng.integers(0, 8, starts.size).astype(np.uint8))

    images = [a, b, c]
    # Sanity: the repair really repairs.
    inject_scattered()
    fixed = flight.majority_repair(images)
    assert fixed > 0 and np.array_equal(c, ref) and np.array_equal(a, ref), "majority_repair did not repair"

    # The scrubber over a real model's three replica images.
    model = bench_model("mlp", 1e6 if args.quick else 1e7)
    stored = flight.open_model(model.folder)
    layout = ImageLayout.from_manifest(stored.manifest)
    imgs = [WeightImage(layout, stored.tensors) for _ in range(3)]
    scrubber = Scrubber(imgs, stored.reload_chunk)
    assert scrubber.scrub_all() == []
    chunk_starts = np.array([ch.offset for ch in layout.chunks])
    chunk_lens = np.array([ch.length for ch in layout.chunks])

    def inject_image() -> None:
        k = rng.integers(0, len(chunk_starts), FLIPS)
        pos = chunk_starts[k] + (rng.random(FLIPS) * chunk_lens[k]).astype(np.int64)
        buf = imgs[1].buffer
        buf[pos] ^= (np.uint8(1) << rng.integers(0, 8, FLIPS).astype(np.uint8))

    inject_image()
    repairs = scrubber.scrub_all()
    assert repairs and all(r.method == "majority" for r in repairs) and scrubber.scrub_all() == []

    fns = {
        "memcpy 64MiB": lambda: np.copyto(dst, a),
        f"repair {FLIPS} flips": lambda: flight.majority_repair(images),
        "repair every block": lambda: flight.majority_repair(images),
        "repair clean": lambda: flight.majority_repair(images),
        "scrub_all clean": scrubber.scrub_all,
        f"scrub_all {FLIPS} flips": scrubber.scrub_all,
    }
    setup = {f"repair {FLIPS} flips": inject_scattered, "repair every block": inject_every_block,
             f"scrub_all {FLIPS} flips": inject_image}
    t = interleaved(fns, rounds, round_s, setup)
    assert np.array_equal(a, ref) and np.array_equal(b, ref) and np.array_equal(c, ref)

    gbs = lambda name, nbytes: nbytes / t.median(name) / 1e9  # noqa: E731
    mem = gbs("memcpy 64MiB", n)
    print(f"   images: 3 x 64 MiB random bytes, block {BLOCK // 1024} KiB; scrub: 3 x {model.name} images "
          f"({imgs[0].nbytes / 1e6:.1f} MB each, {scrubber.pass_bytes / 1e6:.1f} MB per full pass)")
    print(f"   median of {rounds} interleaved rounds; GB/s = image bytes / median time (1 GB = 1e9 B)")
    print(f"{'operation':<24}{'median':>12}{'best':>12}{'GB/s':>8}{'ns/byte':>9}{'x memcpy speed':>16}")
    for name in fns:
        nbytes = scrubber.pass_bytes if name.startswith("scrub") else n
        g = gbs(name, nbytes)
        print(f"{name:<24}{fmt_time(t.median(name)):>12}{fmt_time(t.best(name)):>12}{g:>8.2f}"
              f"{1 / g:>9.3f}{g / mem:>16.3f}")
    print()
    target("repair/realistic-300-flips-GBps", gbs(f"repair {FLIPS} flips", n), 1.0, higher_is_better=True,
           unit=" GB/s", note=f"{gbs(f'repair {FLIPS} flips', n) / mem:.2f}x memcpy speed")
    target("repair/worst-every-block-differs-GBps (stress, same limit)", gbs("repair every block", n), 1.0,
           higher_is_better=True, unit=" GB/s", note=f"{gbs('repair every block', n) / mem:.2f}x memcpy speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
