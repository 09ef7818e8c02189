"""The A/B slot store: the atomic `active` record, faults counted with their reason, single and
pinned stores, and the fingerprint a replay checks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from flight import ManifestError, SlotStore, crc32c
from flight.storage import SLOTS, AtomicWriteError
from flight.storage import _atomic
from flight.storage._store import encode_active_record


@pytest.fixture
def store_root(tmp_path, mlp_dir) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    shutil.copytree(mlp_dir, root / "A")
    shutil.copytree(mlp_dir, root / "B")
    return root


def test_slots_are_a_and_b():
    assert SLOTS == ("A", "B")


def test_set_active_writes_a_crc_protected_record_atomically(store_root):
    store = SlotStore.open(store_root)
    store.set_active("B")
    assert store.active() == "B"
    record = json.loads((store_root / "active").read_text())
    assert record == {"slot": "B", "crc32c": crc32c(b"B")}
    assert sorted(p.name for p in store_root.iterdir()) == ["A", "B", "active"]  # no temp file left
    store.set_active("A")
    assert SlotStore.open(store_root).active() == "A"  # what a reboot reads
    assert store.active_record_faults == 0 and store.last_active_record_fault is None


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "missing"),
        (encode_active_record("B")[:-3], "truncated (32 bytes)"),  # the record is 35 bytes
        (b"", "truncated (0 bytes)"),
        (encode_active_record("B").replace(b'"B"', b'"A"'), "CRC-32C mismatch"),
        (b"\x00\xffslot B", "not JSON"),
        (b"B\n", "not JSON"),
        (b'["B"]', "not an active-slot record"),
        (b'{"slot": "B"}', "not an active-slot record"),
        (json.dumps({"slot": "C", "crc32c": crc32c(b"C")}).encode(), "unknown slot 'C'"),
    ],
    ids=["missing", "truncated", "empty", "crc-mismatch", "binary", "not-json", "list", "no-crc", "unknown-slot"],
)
def test_an_untrustworthy_active_record_reads_as_a_and_is_counted_with_its_reason(store_root, content, reason):
    store = SlotStore.open(store_root)
    store.set_active("B")
    if content is None:
        (store_root / "active").unlink()
    else:
        (store_root / "active").write_bytes(content)
    assert store.active() == "A"
    assert store.active_record_faults == 1
    assert store.last_active_record_fault == reason
    assert store.active() == "A" and store.active_record_faults == 2  # every read that falls back counts


def test_a_good_record_after_a_fault_keeps_the_count_and_the_last_reason(store_root):
    store = SlotStore.open(store_root)
    (store_root / "active").write_bytes(b"garbage")
    assert store.active() == "A"
    store.set_active("B")
    assert store.active() == "B"
    assert store.active_record_faults == 1 and store.last_active_record_fault == "not JSON"


def test_an_unreadable_record_is_a_fault_not_a_crash(store_root):
    (store_root / "active").mkdir()  # reading a folder fails with an OSError
    store = SlotStore.open(store_root)
    assert store.active() == "A"
    assert store.last_active_record_fault == "unreadable (Is a directory)"


def test_a_failed_set_active_leaves_the_old_record(store_root, monkeypatch):
    store = SlotStore.open(store_root)
    store.set_active("B")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_atomic.os, "replace", fail)
    with pytest.raises(AtomicWriteError, match=r"active: cannot write \(No space left on device\)$"):
        store.set_active("A")
    monkeypatch.undo()
    assert store.active() == "B" and store.active_record_faults == 0
    assert sorted(p.name for p in store_root.iterdir()) == ["A", "B", "active"]


def test_set_active_refuses_a_slot_that_is_not_a_or_b(store_root):
    store = SlotStore.open(store_root)
    with pytest.raises(ValueError, match=r"^slot must be A or B, got 'C'$"):
        store.set_active("C")
    with pytest.raises(ValueError, match=r"^slot must be A or B, got 'a'$"):
        store.slot_dir("a")


def test_open_refuses_a_missing_store_folder(tmp_path):
    with pytest.raises(ManifestError, match=rf"^{tmp_path / 'none'}: model store folder does not exist$"):
        SlotStore.open(tmp_path / "none")


def test_an_empty_slot_has_no_folder(store_root):
    shutil.rmtree(store_root / "B")
    store = SlotStore.open(store_root)
    assert store.slot_dir("A") == store_root / "A" and store.slot_dir("B") is None
    assert store.describe("B") == "slot B (empty)"
    assert store.describe("A") == f"slot A ({store_root / 'A'})"


def test_a_single_store_holds_one_model_in_a_and_never_writes(mlp_dir, folder_bytes):
    before = folder_bytes(mlp_dir)
    store = SlotStore.single(mlp_dir)
    assert store.slot_dir("A") == Path(mlp_dir) and store.slot_dir("B") is None
    assert store.active() == "A"
    store.set_active("B")  # held in memory: a single model folder has no record to write
    assert store.active() == "B"
    assert folder_bytes(mlp_dir) == before and not (Path(mlp_dir) / "active").exists()
    assert store.active_record_faults == 0


def test_a_pinned_store_reads_the_slots_but_keeps_its_record_in_memory(store_root):
    store = SlotStore.open(store_root)
    store.set_active("A")
    record = (store_root / "active").read_bytes()
    pinned = store.pinned("B")
    assert pinned.active() == "B" and pinned.slot_dir("B") == store_root / "B"
    pinned.set_active("A")
    assert pinned.active() == "A"
    assert (store_root / "active").read_bytes() == record  # the flight's own record is untouched
    with pytest.raises(ManifestError, match=r"^active slot must be A or B, got 'C'$"):
        store.pinned("C")


def test_the_fingerprint_names_every_byte_of_each_slot(store_root):
    store = SlotStore.open(store_root)
    first = store.fingerprint()
    assert first["A"] == first["B"] and len(first["A"]) == 64  # the same model in both slots
    assert SlotStore.open(store_root).fingerprint() == first
    data = bytearray((store_root / "B" / "golden.npz").read_bytes())
    data[-1] ^= 1
    (store_root / "B" / "golden.npz").write_bytes(bytes(data))
    changed = store.fingerprint()
    assert changed["A"] == first["A"] and changed["B"] != first["B"]
    os.rename(store_root / "B" / "golden.npz", store_root / "B" / "renamed.npz")  # names count too
    assert store.fingerprint()["B"] not in (first["B"], changed["B"])
    shutil.rmtree(store_root / "B")
    assert store.fingerprint()["B"] is None
