"""Kill the flight with SIGKILL at random points while it receives, verifies, stages and activates a
patch, then check what a restart finds (run by test_sigkill.py as its own process).

Why a separate process: the flight runs in a forked child, and a child forked from a process that
already holds onnxruntime sessions may inherit locked thread pools. This driver imports everything
but never builds a session itself; every flight and every check runs in a fresh fork.

Each round: fork a flight (executive + uplink receiver over the store) that takes a signed patch
from an in-process ground sender, stages it, and activates it by ACTIVATE_SLOT; SIGKILL it after a
random delay; fork a checker that restarts the flight on the same store and requires: it boots a
fully verified model, old or new, never a mix; every slot either verifies as one of the two known
models or is refused by verification (never corrupted undetected); the sequence record never goes
below a sequence the flight acknowledged. Every 10th round the flight is not killed, and its uplink
must succeed: the next uplink works after any kill before it.

    python tests/uplink/kill_driver.py STORE_PARENT ROUNDS SEED  -> prints one JSON summary line
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from flight import CommandCode, Mode, SeuguardError, SlotStore, encode_command, load_config, make_executive, open_model  # noqa: E402
from flight.uplink import LinkTimers, SequenceRecord, UplinkReceiver  # noqa: E402
from ground._patch import build_patch, keygen, load_private_key, public_key_bytes  # noqa: E402
from ground._uplink import PatchSender  # noqa: E402
from sim.lunar_lander import LunarLanderWorld  # noqa: E402

BASE, NEW = ROOT / "models" / "lander-discrete", ROOT / "models" / "lander-discrete-ft"
FAST = LinkTimers(ack_interval_s=0.02, ack_limit=50, nak_interval_s=0.02, nak_limit=100, check_interval_s=0.02)
KNOWN = {hashlib.sha256((d / "model.onnx").read_bytes()).hexdigest(): d for d in (BASE, NEW)}


def model_of(folder: Path) -> Path:
    return KNOWN[hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()]


def fly_uplink(root: Path, patch: bytes, pub: bytes, transaction: int) -> int:
    """The flight: boot, receive the patch, stage it, activate it. Exit 0 when the new slot flies."""
    store = SlotStore.open(root)
    receiver = UplinkReceiver(store, pub, 7, timers=FAST)
    world = LunarLanderWorld()
    executive = make_executive(store, load_config(), world, uplink=receiver)
    sender = PatchSender(patch, transaction, FAST)
    obs = world.reset(0)
    commanded = False
    for _ in range(20_000):
        for packet in sender.poll():
            executive.uplink(packet)
        result = executive.step([obs])
        while executive.uplink_component.outbox:
            sender.accept(executive.uplink_component.outbox.popleft())
        obs, _, done = world.step(result.action)
        if done:
            obs = world.reset(executive.cycle)
        staged = receiver.staged_slot
        if staged and receiver.ready_to_activate and not commanded:
            executive.uplink(encode_command(CommandCode.ACTIVATE_SLOT, ("AB".index(staged),), seq_count=1))
            commanded = True
        if commanded and executive.slot == staged and executive.mode is Mode.NOMINAL:
            executive.close()
            return 0
    return 3


def check(root: Path, acknowledged: int) -> str:
    """The restart: '' when every promise holds, else what broke."""
    store = SlotStore.open(root)
    receiver = UplinkReceiver(store, PUB, 7)  # finishes or undoes an interrupted slot swap first
    world = LunarLanderWorld()
    executive = make_executive(store, load_config(), world, uplink=receiver)
    try:
        if executive.mode is not Mode.NOMINAL or executive.stack is None:
            return f"restart did not boot a model: mode {executive.mode.name}"
        flying = model_of(executive.stack.model.directory)
        for slot in ("A", "B"):
            d = store.slot_dir(slot)
            if d is None:
                continue
            try:
                open_model(d)
            except SeuguardError:
                continue  # refused by verification: detected, never flown
            if model_of(d) not in (BASE, NEW):
                return f"slot {slot} verifies but is neither model"
        if receiver.statistics().highest_sequence < acknowledged:
            return f"sequence record went back: {receiver.statistics().highest_sequence} < {acknowledged}"
        return "" if flying in (BASE, NEW) else "flying an unknown model"
    finally:
        executive.close()
        world.close()


def main() -> int:
    global PUB
    parent, rounds, seed = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(seed)
    root = parent / "store"
    shutil.copytree(BASE, root / "A")
    SlotStore.open(root).set_active("A")
    key_path, pub_path = keygen(parent / "ground.key")
    key = load_private_key(key_path)
    PUB = public_key_bytes(key)
    kills = clean = staged_then_killed = 0
    failures: list[str] = []
    durations: list[float] = []
    for i in range(rounds):
        store = SlotStore.open(root)
        active_model = model_of(store.slot_dir(store.active()))
        target = NEW if active_model == BASE else BASE
        acknowledged = SequenceRecord(root).highest()
        patch, _ = build_patch(active_model, target, key, acknowledged + 1, 7)
        kill = i % 10 != 9
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:
            code = 4
            try:
                code = fly_uplink(root, patch, PUB, 1000 + i)
            finally:
                os._exit(code)
        budget = float(rng.uniform(0.0, 0.9 * np.median(durations) if durations else 1.0)) if kill else 120.0
        deadline = time.monotonic() + budget
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.002)
        else:
            status = None
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            kills += 1
        else:
            durations.append(time.monotonic() - t0)
            if os.WEXITSTATUS(status) != 0:
                failures.append(f"round {i}: the flight's uplink failed (exit {os.WEXITSTATUS(status)})")
            elif not kill:
                clean += 1
        if SequenceRecord(root).highest() > acknowledged and status is None:
            staged_then_killed += 1
        checker = os.fork()
        if checker == 0:
            code = 5
            try:
                problem = check(root, acknowledged)
                if problem:
                    print(f"round {i}: {problem}", file=sys.stderr, flush=True)
                code = 1 if problem else 0
            finally:
                os._exit(code)
        _, cstatus = os.waitpid(checker, 0)
        if os.WEXITSTATUS(cstatus) != 0:
            failures.append(f"round {i}: the restart broke a promise (see stderr)")
    print(json.dumps({"rounds": rounds, "kills": kills, "clean_uplinks": clean, "killed_after_acceptance": staged_then_killed,
                      "failures": failures, "median_uplink_s": float(np.median(durations)) if durations else None}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
