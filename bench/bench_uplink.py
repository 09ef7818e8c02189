"""Uplink benchmarks: patch size, bytes on a lossy link, onboard verify-and-stage time.

1. Patch size for a fine-tune that changes 10% of one layer (fc2.weight), as a fraction of the
   model folder: the committed lander-discrete (24 KB: manifest and golden vectors, sent whole,
   dominate) and bench-mlp-1e6 (about 4 MB, models/build_bench_models.py). Target <= 10%.
2. Bytes the ground puts on the link (CFDP Class 2 in space packets, 10% loss, BER 1e-6, in-process
   link simulator, seeded) over the patch size, median of the seeds. Target <= 1.25x.
3. Onboard verify-and-stage of a ~5 MB model's patch (bench-mlp-1.25e6) against one sha256 pass
   over the model file, interleaved rounds in one process. Three lines, target <= 3x each: the
   checks in memory (signature, body sha256, decompress, apply, result sha256); the receiver's
   verify-and-stage (the checks + durable write, fsync, swap); and with the golden self-test
   (open_model's full check, a replica session, the golden vectors). The durable write of the
   folder alone is printed beside them: it is the storage's cost, not the code's.

    python bench/bench_uplink.py [--quick]
"""

from __future__ import annotations

import hashlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import header, interleaved, parse_args, target
from _models import MODELS, OUT, REPO, bench_model

import numpy as np
import onnx


def fine_tuned(folder: Path, name: str) -> Path:
    """`folder` with 10% of fc2.weight perturbed, packaged like the original (cached)."""
    import sys

    sys.path.insert(0, str(REPO / "models"))
    from build_patch_demo import perturb  # type: ignore[import-not-found]
    from ground import package_model

    out = OUT / f"{name}-ft"
    stamp = OUT / f"{name}-ft.base-sha256"
    digest = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    if (out / "manifest.yaml").is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        return out
    model = onnx.load_model(folder / "model.onnx")
    perturb(model, "fc2.weight", 0.1, np.random.default_rng(0))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "ft.onnx"
        onnx.save_model(model, src)
        with np.load(folder / "golden.npz") as g:
            inputs = {k.split(":", 1)[1]: g[k] for k in g.files if k.startswith("input:")}
        np.savez(Path(tmp) / "gold.npz", **inputs)
        package_model(src, out, name=f"{name}-ft", golden_inputs=Path(tmp) / "gold.npz")
    stamp.write_text(digest + "\n")
    return out


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def transfer(patch: bytes, seed: int):
    from flight import SlotStore
    from flight.uplink import LinkTimers, UplinkReceiver
    from ground._linksim import LinkProfile, LinkSim
    from ground._uplink import PatchSender

    timers = LinkTimers(ack_interval_s=0.05, ack_limit=20, nak_interval_s=0.05, nak_limit=60, check_interval_s=0.05)
    with tempfile.TemporaryDirectory() as tmp:
        store_root = Path(tmp)
        (store_root / "A").mkdir()
        receiver = UplinkReceiver(SlotStore.open(store_root), bytes(32), 1, timers=timers,
                                  self_test=lambda d: None)
        sender = PatchSender(patch, seed, timers)
        profile = LinkProfile(loss=0.1, ber=1e-6)
        up, down = LinkSim(profile, np.random.default_rng([seed, 1])), LinkSim(profile, np.random.default_rng([seed, 2]))
        start = time.monotonic()
        while time.monotonic() - start < 60 and not sender.done:
            now = time.monotonic()
            for p in sender.poll():
                up.send(p, now)
            for p in up.receive(now):
                receiver.accept_packet(p)
            receiver.step(0)  # CFDP only: no verification work (the key is a dummy)
            for p in receiver.outgoing():
                down.send(p, now)
            for p in down.receive(now):
                sender.accept(p)
            time.sleep(0.0005)
        return sender


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    header("uplink: patch size, bytes on a lossy link, verify-and-stage", args.quick)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from flight import SlotStore
    from flight.uplink import UplinkReceiver
    from ground._patch import build_patch, public_key_bytes

    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))

    # 1. patch size
    lander = MODELS / "lander-discrete"
    raw_l, rep_l = build_patch(lander, MODELS / "lander-discrete-ft", key, 2, 1)
    print(f"   lander-discrete: {rep_l.kind} patch {rep_l.patch_bytes} B for a {rep_l.model_bytes} B folder "
          f"({100 * rep_l.patch_bytes / rep_l.model_bytes:.1f}%; manifest+golden sent whole dominate)")
    big = bench_model("mlp", 1e6)
    big_ft = fine_tuned(big.folder, big.name)
    t0 = time.perf_counter()
    raw_b, rep_b = build_patch(big.folder, big_ft, key, 2, 1)
    build_s = time.perf_counter() - t0
    print(f"   {big.name}: {rep_b.kind} patch {rep_b.patch_bytes} B for a {rep_b.model_bytes} B folder, "
          f"{rep_b.changed_elements} changed elements (built in {build_s:.2f} s)")
    target("patch size / model size, 10% of one layer changed (bench-mlp-1e6)",
           rep_b.patch_bytes / rep_b.model_bytes, 0.10)

    # 2. bytes on the link at 10% loss
    seeds = range(3) if args.quick else range(6)
    ratios = []
    for seed in seeds:
        sender = transfer(raw_b, seed)
        ratios.append(sender.bytes_sent / len(raw_b))
        print(f"   seed {seed}: delivered={sender.delivered} {sender.bytes_sent} B on the link for {len(raw_b)} B, "
              f"{sender.retransmissions} retransmitted PDUs")
        if not sender.delivered:
            print(f"   seed {seed}: NOT DELIVERED ({sender.finished_condition})")
    target("bytes on the link / patch size at 10% loss, BER 1e-6", statistics.median(ratios), 1.25,
           note=f"median of {len(ratios)} seeds, max {max(ratios):.3f}x; 1/(1-0.1) = 1.111x is the floor")

    # 3. verify-and-stage of a ~5 MB model vs one sha256 pass
    five = bench_model("mlp", 1.25e6)
    five_ft = fine_tuned(five.folder, five.name)
    raw_5, rep_5 = build_patch(five.folder, five_ft, key, 2, 1)
    model_bytes = (five_ft / "model.onnx").read_bytes()
    print(f"   {five.name}: model.onnx {len(model_bytes) / 1e6:.2f} MB, patch {rep_5.patch_bytes} B")
    work = Path(tempfile.mkdtemp(prefix="bench-uplink-"))
    counter = [0]

    def fresh_store() -> SlotStore:
        counter[0] += 1
        root = work / f"s{counter[0]}"
        root.mkdir()
        shutil.copytree(five.folder, root / "A")
        shutil.rmtree(work / f"s{counter[0] - 2}", ignore_errors=True)
        return SlotStore.open(root)

    state = {}

    def setup_core():
        state["r"] = UplinkReceiver(fresh_store(), public_key_bytes(key), 1, self_test=lambda d: None)

    def setup_full():
        state["r"] = UplinkReceiver(fresh_store(), public_key_bytes(key), 1)

    def stage():
        r = state["r"]
        r.receive_file(raw_5)
        while r.busy:
            r.step(1 << 30)
        assert r.staged_slot == "B", r.statistics()

    def sha_pass():
        hashlib.sha256(model_bytes).digest()

    from flight.uplink import apply_files, decode_patch, files_digest, folder_files
    from flight.uplink._durable import fsync_dir, write_file

    base_files = folder_files(five.folder)
    pub = key.public_key()

    def verify_only():
        """The checks alone, in memory: signature, body sha256, decompress, apply, result sha256."""
        patch = decode_patch(raw_5, pub, 1)
        assert files_digest(apply_files(base_files, patch.files)) == patch.header.result_sha256

    result_files = folder_files(five_ft)
    floor_dir = work / "floor"
    floor_dir.mkdir()

    def write_floor():
        """Writing the new folder durably, nothing else: the storage's share."""
        for name, data in result_files.items():
            write_file(floor_dir / name, data)
        fsync_dir(floor_dir)

    rounds = 3 if args.quick else 7
    none = lambda: None  # noqa: E731
    t = interleaved({"sha256": sha_pass, "verify": verify_only, "write": write_floor, "core": stage, "full": stage},
                    rounds=rounds, round_s=0.3,
                    setup={"sha256": none, "verify": none, "write": none, "core": setup_core, "full": setup_full})
    shutil.rmtree(work, ignore_errors=True)
    ms = {n: t.median(n) * 1e3 for n in t.per_call}
    print(f"   one sha256 pass {ms['sha256']:.2f} ms | checks in memory {ms['verify']:.2f} ms | durable write of the "
          f"folder alone {ms['write']:.2f} ms | receiver verify-and-stage {ms['core']:.2f} ms, "
          f"with the golden self-test {ms['full']:.2f} ms")
    target("verification / one sha256 pass, ~5 MB model (signature, sha256s, decompress, apply; in memory)",
           t.ratio("verify", "sha256"), 3.0, note=f"best-of-rounds {t.ratio_best('verify', 'sha256'):.2f}x")
    target("verify-and-stage / one sha256 pass, ~5 MB model (+ durable write, fsync, swap)",
           t.ratio("core", "sha256"), 3.0,
           note=f"best-of-rounds {t.ratio_best('core', 'sha256'):.2f}x; the durable write alone is "
                f"{t.ratio('write', 'sha256'):.2f}x")
    target("verify-and-stage / one sha256 pass, ~5 MB model (+ open_model + golden self-test)",
           t.ratio("full", "sha256"), 3.0, note=f"best-of-rounds {t.ratio_best('full', 'sha256'):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
