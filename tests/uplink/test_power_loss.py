"""Power loss during staging: record the store's writes, cut anywhere, keep only what was durable.

SIGKILL leaves the page cache intact, so it cannot show a missing fsync. As ALICE and CrashMonkey
do, the test records every file-system call the uplink makes (open/create, write, fsync, rename,
mkdir, unlink, rmdir on `os`), and for each cut point builds the state a power cut could leave:

- a file's bytes are those at its last fsync ("lost") or, in a second variant, every byte written
  so far ("flushed");
- a directory entry change (create, rename, mkdir, unlink, rmdir) survives if its folder was
  fsynced after it; of the later ones, none, all, or the first one survive (in order, as a journal
  writes them back).

From each state the store must recover to: the active slot untouched; the inactive slot exactly
the old model or exactly a new one, never a mix; the sequence record readable and never below a
value already acknowledged; and the next uplink still verifies and stages. Run time: about 10 s.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from flight import SlotStore
from flight.uplink import SequenceRecord, UplinkReceiver, model_digest
from flight.uplink import _sequence
from ground._patch import build_patch, public_key_bytes
from harness import BASE, FAST, FINE_TUNED

SPACECRAFT = 7
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OLD_B = BASE.parent / "hazard-cnn"
OTHER = BASE.parent / "lander-continuous"


@dataclass
class Recording:
    root: Path
    initial_ns: dict[str, int]
    initial_data: dict[int, bytes]
    ops: list[tuple] = field(default_factory=list)
    acknowledged: list[tuple[int, int]] = field(default_factory=list)  # (op index, sequence)


class Recorder:
    """Wraps `os` calls under `root`, keeping an in-memory model of names -> inodes -> bytes."""

    def __init__(self, root: Path):
        self.root = root
        self.ns: dict[str, int] = {}
        self.data: dict[int, bytearray] = {}
        self.is_dir: dict[int, bool] = {}
        self.next_inode = 0
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            self._new(rel, True)
            for name in filenames:
                self.data[self._new(os.path.normpath(os.path.join(rel, name)), False)] = bytearray(
                    Path(dirpath, name).read_bytes())
        self.rec = Recording(root, dict(self.ns), {i: bytes(d) for i, d in self.data.items()})
        self.fds: dict[int, tuple[int, int]] = {}  # fd -> (inode, position)

    def _new(self, rel: str, is_dir: bool) -> int:
        inode = self.next_inode
        self.next_inode += 1
        self.ns[rel] = inode
        self.is_dir[inode] = is_dir
        if not is_dir:
            self.data[inode] = bytearray()
        return inode

    def rel(self, path) -> str | None:
        p = os.path.abspath(os.fspath(path))
        root = str(self.root)
        if p != root and not p.startswith(root + os.sep):
            return None
        return os.path.normpath(os.path.relpath(p, root))

    def parent(self, rel: str) -> int:
        return self.ns[os.path.dirname(rel) or "."]

    def install(self, monkeypatch) -> None:
        real = {n: getattr(os, n) for n in ("open", "write", "fsync", "close", "rename", "replace", "mkdir", "rmdir", "unlink")}
        ops = self.rec.ops

        def _open(path, flags, mode=0o777, *a, **k):
            fd = real["open"](path, flags, mode, *a, **k)
            rel = self.rel(path)
            if rel is not None:
                if rel not in self.ns:
                    inode = self._new(rel, False)
                    ops.append(("create", rel, inode, (self.parent(rel),)))
                inode = self.ns[rel]
                if flags & os.O_TRUNC and not self.is_dir[inode]:
                    self.data[inode] = bytearray()
                    ops.append(("truncate", inode))
                self.fds[fd] = (inode, 0)
            return fd

        def _write(fd, data):
            n = real["write"](fd, data)
            if fd in self.fds:
                inode, pos = self.fds[fd]
                buf = self.data[inode]
                chunk = bytes(data[:n])
                buf[pos : pos + n] = chunk
                ops.append(("write", inode, pos, chunk))
                self.fds[fd] = (inode, pos + n)
            return n

        def _fsync(fd):
            real["fsync"](fd)
            if fd in self.fds:
                ops.append(("fsync", self.fds[fd][0]))

        def _close(fd):
            self.fds.pop(fd, None)
            return real["close"](fd)

        def _rename(src, dst, *a, **k):
            real["rename"](src, dst, *a, **k)
            rs, rd = self.rel(src), self.rel(dst)
            if rs is not None and rd is not None:
                parents = (self.parent(rs), self.parent(rd))
                self._move(self.ns, rs, rd)
                ops.append(("rename", rs, rd, parents))

        def _mkdir(path, mode=0o777, *a, **k):
            real["mkdir"](path, mode, *a, **k)
            rel = self.rel(path)
            if rel is not None:
                inode = self._new(rel, True)
                ops.append(("mkdir", rel, inode, (self.parent(rel),)))

        def _remove(kind):
            def inner(path, *a, **k):
                real[kind](path, *a, **k)
                rel = self.rel(path)
                if rel is not None:
                    parents = (self.parent(rel),)
                    del self.ns[rel]
                    ops.append((kind, rel, parents))
            return inner

        monkeypatch.setattr(os, "open", _open)
        monkeypatch.setattr(os, "write", _write)
        monkeypatch.setattr(os, "fsync", _fsync)
        monkeypatch.setattr(os, "close", _close)
        monkeypatch.setattr(os, "rename", _rename)
        monkeypatch.setattr(os, "replace", _rename)
        monkeypatch.setattr(os, "mkdir", _mkdir)
        monkeypatch.setattr(os, "rmdir", _remove("rmdir"))
        monkeypatch.setattr(os, "unlink", _remove("unlink"))

    @staticmethod
    def _move(ns: dict[str, int], src: str, dst: str) -> bool:
        if src not in ns:
            return False
        for path in [p for p in ns if p == dst or p.startswith(dst + os.sep)]:
            del ns[path]
        for path in [p for p in ns if p == src or p.startswith(src + os.sep)]:
            ns[dst + path[len(src):]] = ns.pop(path)
        return True


def crash_state(rec: Recording, cut: int, extra: str, data_mode: str) -> tuple[dict[str, int], dict[int, bytes]]:
    """Names and bytes a power cut after op `cut` may leave (see the module docstring)."""
    ops = rec.ops[:cut]
    meta = [i for i, op in enumerate(ops) if op[0] in ("create", "mkdir", "rename", "rmdir", "unlink")]
    fsyncs = [(i, op[1]) for i, op in enumerate(ops) if op[0] == "fsync"]

    def synced(i: int) -> bool:
        return all(any(j > i and ino == p for j, ino in fsyncs) for p in ops[i][-1])

    durable = [i for i in meta if synced(i)]
    rest = [i for i in meta if not synced(i)]
    chosen = sorted(set(durable) | set({"none": [], "all": rest, "first": rest[:1]}[extra]))
    ns = dict(rec.initial_ns)
    for i in chosen:
        op = ops[i]
        if op[0] in ("create", "mkdir"):
            if os.path.dirname(op[1]) or "." in ns:
                ns[op[1]] = op[2]
        elif op[0] == "rename":
            Recorder._move(ns, op[1], op[2])
        else:
            for path in [p for p in ns if p == op[1] or p.startswith(op[1] + os.sep)]:
                del ns[path]
    data: dict[int, bytearray] = {i: bytearray(d) for i, d in rec.initial_data.items()}
    durable_data = {i: bytes(d) for i, d in rec.initial_data.items()}
    for op in ops:
        if op[0] == "truncate":
            data[op[1]] = bytearray()
        elif op[0] == "write":
            buf = data.setdefault(op[1], bytearray())
            buf[op[2] : op[2] + len(op[3])] = op[3]
        elif op[0] == "fsync" and op[1] in data:
            durable_data[op[1]] = bytes(data[op[1]])
    if data_mode == "flushed":
        contents = {i: bytes(d) for i, d in data.items()}
    else:
        contents = durable_data
    return ns, contents


def materialize(ns: dict[str, int], contents: dict[int, bytes], is_dir: dict[int, bool], out: Path) -> None:
    out.mkdir()
    for path in sorted(ns, key=lambda p: p.count(os.sep)):
        if path == ".":
            continue
        target = out / path
        if not target.parent.is_dir():
            continue  # its folder's entry did not survive: unreachable
        if is_dir[ns[path]]:
            target.mkdir()
        else:
            target.write_bytes(contents.get(ns[path], b""))


@pytest.fixture(scope="module")
def patches():
    first = build_patch(BASE, FINE_TUNED, KEY, 2, SPACECRAFT)[0]  # delta: B <- fine-tuned
    second = build_patch(BASE, BASE, KEY, 3, SPACECRAFT, force_whole=True)[0]  # whole: B <- base
    third = build_patch(BASE, FINE_TUNED, KEY, 4, SPACECRAFT)[0]  # delta again: B <- fine-tuned
    fourth = build_patch(BASE, OTHER, KEY, 5, SPACECRAFT)[0]  # whole (other graph): B <- continuous
    after = build_patch(BASE, FINE_TUNED, KEY, 9, SPACECRAFT)[0]  # the next uplink, after the cut
    return (first, second, third, fourth), after


def test_power_loss_at_every_write_leaves_old_or_new_and_the_next_uplink_works(tmp_path, monkeypatch, patches):
    stagings, after = patches
    root = tmp_path / "store"
    root.mkdir()
    shutil.copytree(BASE, root / "A")
    shutil.copytree(OLD_B, root / "B")
    SlotStore.open(root).set_active("A")
    recorder = Recorder(root)
    receiver = UplinkReceiver(SlotStore.open(root), public_key_bytes(KEY), SPACECRAFT, timers=FAST)
    real_accept = _sequence.SequenceRecord.accept

    def accept(self, sequence):
        real_accept(self, sequence)
        recorder.rec.acknowledged.append((len(recorder.rec.ops), sequence))

    with monkeypatch.context() as m:
        recorder.install(m)
        m.setattr(_sequence.SequenceRecord, "accept", accept)
        for raw in stagings:
            receiver.receive_file(raw)
            while receiver.busy:
                receiver.step(1 << 30)
            assert receiver.statistics().refusals == 0
    rec = recorder.rec
    cuts = range(len(rec.ops) + 1)
    assert len(cuts) >= 100, f"only {len(cuts)} cut points"

    digests = {model_digest(OLD_B): "old", model_digest(FINE_TUNED): "fine-tuned", model_digest(BASE): "base",
               model_digest(OTHER): "continuous"}
    first_sequence = {"old": 0, "fine-tuned": 2, "base": 3, "continuous": 5}
    active_digest = model_digest(BASE)
    seen_states: dict[bytes, tuple] = {}
    outcomes = set()
    n_states = 0
    for cut in cuts:
        acknowledged = max([s for i, s in rec.acknowledged if i <= cut], default=0)
        for extra in ("none", "first", "all"):
            for data_mode in ("lost", "flushed"):
                ns, contents = crash_state(rec, cut, extra, data_mode)
                key = repr(sorted((p, contents.get(i, b"") if not recorder.is_dir[i] else None) for p, i in ns.items())).encode()
                if key in seen_states:
                    continue
                n_states += 1
                out = tmp_path / f"crash{n_states}"
                materialize(ns, contents, recorder.is_dir, out)
                store = SlotStore.open(out)
                fresh = UplinkReceiver(store, public_key_bytes(KEY), SPACECRAFT, timers=FAST)  # recovers
                where = f"cut {cut}/{len(rec.ops)} ({extra}, {data_mode})"
                assert store.active() == "A" and model_digest(out / "A") == active_digest, where
                b = digests.get(model_digest(out / "B"))
                assert b is not None, f"{where}: slot B is a mix: {sorted(p.name for p in (out / 'B').iterdir())}"
                seq = SequenceRecord(out).highest()  # raises if the record were torn
                assert seq >= acknowledged, f"{where}: sequence {seq} went below acknowledged {acknowledged}"
                assert first_sequence[b] <= seq, f"{where}: B staged without its sequence"
                assert sorted(p.name for p in out.iterdir() if ".staging-" in p.name or ".old-" in p.name) == []
                outcomes.add((b, seq))
                fresh.receive_file(after)
                while fresh.busy:
                    fresh.step(1 << 30)
                assert fresh.staged_slot == "B" and model_digest(out / "B") == model_digest(FINE_TUNED), where
                shutil.rmtree(out)
                seen_states[key] = (b, seq)
    # Not vacuous: cuts really produced the old, the intermediate and the new states.
    assert {b for b, _ in outcomes} == set(first_sequence)
    assert {s for _, s in outcomes} == {0, 2, 3, 4, 5}
    assert n_states >= 20


def test_the_storage_layers_recovery_also_undoes_an_interrupted_uplink_swap(tmp_path):
    """Same names as flight.storage's replace_folder, so either recovery restores the slot."""
    from flight.storage._atomic import recover_folder
    from flight.uplink._stage import _paths

    target, _stage, old = _paths(tmp_path, "B")
    shutil.copytree(OLD_B, old)  # a cut fell between `B -> old` and `staging -> B`
    assert recover_folder(target) and model_digest(target) == model_digest(OLD_B)
