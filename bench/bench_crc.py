"""Full CRC-32C verification of a weight image against one memcpy of the same bytes.

Target: crc_time / memcpy_time <= 1.0, where memcpy is `np.copyto(dst, src)` into a pre-faulted
buffer of the same size, for
- `WeightImage.bad_chunks()` over a whole image (every 64 KiB chunk against its manifest CRC),
- raw `flight.crc32c(image.buffer)`,
on the image of bench-mlp-1e7 (~40 MB; bench-mlp-1e6, ~4 MB, in --quick) and on a 64 MiB buffer.

    python bench/bench_crc.py [--quick]
"""

from __future__ import annotations

import numpy as np
from _common import fmt_time, header, interleaved, parse_args, target
from _models import bench_model

import flight
from flight import ImageLayout, WeightImage


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    header("bench_crc: CRC-32C full verification vs one memcpy of the same bytes", args.quick)
    print(f"   crc32c hardware: {flight.CRC32C_HARDWARE}")
    rounds, round_s = (5, 0.05) if args.quick else (21, 0.15)
    size = 1e6 if args.quick else 1e7
    model = bench_model("mlp", size)
    stored = flight.open_model(model.folder)
    image = WeightImage(ImageLayout.from_manifest(stored.manifest), stored.tensors)
    assert image.bad_chunks() == [], "fresh image fails its own CRCs"
    img_dst = np.empty_like(image.buffer)
    img_dst[...] = 1  # fault the pages in before timing
    raw = np.frombuffer(np.random.default_rng(0).bytes(64 << 20), dtype=np.uint8).copy()
    raw_dst = np.empty_like(raw)
    raw_dst[...] = 1
    ref_crc = flight.crc32c(raw)

    def check_raw() -> None:
        if flight.crc32c(raw) != ref_crc:
            raise AssertionError("64 MiB buffer changed")

    fns = {
        "image memcpy": lambda: np.copyto(img_dst, image.buffer),
        "image bad_chunks()": image.bad_chunks,
        "image crc32c(buffer)": lambda: flight.crc32c(image.buffer),
        "64MiB memcpy": lambda: np.copyto(raw_dst, raw),
        "64MiB crc32c": check_raw,
    }
    t = interleaved(fns, rounds, round_s)
    nb_img, nb_raw = image.buffer.nbytes, raw.nbytes
    print(f"   image: {model.name}, {nb_img / 1e6:.1f} MB, {len(image.layout.chunks)} chunks of "
          f"{stored.manifest.chunk_size // 1024} KiB; buffer: {nb_raw / 2**20:.0f} MiB random bytes")
    if args.quick:
        print("   NOTE (quick): a 4 MB image is cache-resident, where memcpy runs far faster than from RAM;"
              " the full run uses the 40 MB image")
    print(f"   median of {rounds} interleaved rounds; ratio = median of same-round ratios")
    print(f"{'operation':<24}{'median':>12}{'best':>12}{'GB/s':>8}{'/ memcpy':>10}")
    for name, base, nb in [("image memcpy", "image memcpy", nb_img), ("image bad_chunks()", "image memcpy", nb_img),
                           ("image crc32c(buffer)", "image memcpy", nb_img), ("64MiB memcpy", "64MiB memcpy", nb_raw),
                           ("64MiB crc32c", "64MiB memcpy", nb_raw)]:
        print(f"{name:<24}{fmt_time(t.median(name)):>12}{fmt_time(t.best(name)):>12}"
              f"{nb / t.median(name) / 1e9:>8.2f}{t.ratio(name, base):>10.3f}")
    print()
    for name, base in [("image bad_chunks()", "image memcpy"), ("image crc32c(buffer)", "image memcpy"),
                       ("64MiB crc32c", "64MiB memcpy")]:
        target(f"crc/{name.replace(' ', '-')}", t.ratio(name, base), 1.0,
               note=f"best-of {t.ratio_best(name, base):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
