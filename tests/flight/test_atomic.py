"""Atomic writes to onboard storage: the new content or the old one, never a mix, never debris."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flight.storage import AtomicWriteError, atomic_write_bytes, replace_folder
from flight.storage import _atomic
from flight.storage._atomic import recover_folder


def folder(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


@pytest.fixture
def old_folder(tmp_path) -> Path:
    target = tmp_path / "store" / "A"
    target.mkdir(parents=True)
    (target / "model.onnx").write_bytes(b"old model")
    (target / "stale.txt").write_bytes(b"only in the old folder")
    return target


@pytest.fixture
def fsync_log(monkeypatch):
    """Every path fsynced, in order (read back from the file descriptor)."""
    log: list[str] = []
    real = os.fsync

    def fsync(fd):
        log.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(_atomic.os, "fsync", fsync)
    return log


# --- one file ---------------------------------------------------------------------------------------


def test_atomic_write_replaces_the_file_and_leaves_nothing_beside_it(tmp_path, fsync_log):
    path = tmp_path / "active"
    path.write_bytes(b"old")
    atomic_write_bytes(path, b"new record")
    assert path.read_bytes() == b"new record"
    assert listing(tmp_path) == ["active"]
    # Durable: the data reached the disk before the rename, and the rename before returning.
    assert len(fsync_log) == 2 and Path(fsync_log[0]).name.startswith(".active.")
    assert fsync_log[1] == str(tmp_path)


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_a_failed_single_file_write_keeps_the_old_content_and_no_temp_file(tmp_path, monkeypatch, step):
    path = tmp_path / "active"
    path.write_bytes(b"old")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_atomic.os, step, fail)
    with pytest.raises(AtomicWriteError, match=rf"^{path}: cannot write \(No space left on device\)$"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert listing(tmp_path) == ["active"]


def test_a_single_file_write_into_a_missing_folder_is_refused_by_name(tmp_path):
    path = tmp_path / "nope" / "active"
    with pytest.raises(AtomicWriteError, match=rf"^{path}: cannot write \(No such file or directory\)$"):
        atomic_write_bytes(path, b"x")


# --- a whole folder ---------------------------------------------------------------------------------


def test_replace_folder_leaves_exactly_the_new_files_and_no_debris(old_folder, tmp_path, fsync_log):
    source = tmp_path / "golden.npz"
    source.write_bytes(b"golden bytes")
    replace_folder(old_folder, {"model.onnx": b"new model", "golden.npz": source})
    assert folder(old_folder) == {"golden.npz": b"golden bytes", "model.onnx": b"new model"}
    assert listing(old_folder.parent) == ["A"]
    # Each file, then the staging folder, then (after the renames) the parent reached the disk.
    names = [Path(p).name for p in fsync_log]
    assert names[:2] == ["model.onnx", "golden.npz"]
    assert names[2].startswith(".A.staging-") and fsync_log[3] == str(old_folder.parent)


def test_replace_folder_creates_a_target_that_did_not_exist(tmp_path):
    target = tmp_path / "deep" / "B"
    replace_folder(target, {"manifest.yaml": b"m"})
    assert folder(target) == {"manifest.yaml": b"m"}
    assert oct(target.stat().st_mode & 0o777) == oct(0o755)  # ordinary data, not mkdtemp's private mode


def test_a_failure_while_staging_leaves_the_old_folder_and_no_debris(old_folder, monkeypatch):
    before = folder(old_folder)
    real = _atomic._write_synced
    written = []

    def fail_on_second(path, data):
        if written:
            raise OSError(5, "Input/output error")
        written.append(path)
        real(path, data)

    monkeypatch.setattr(_atomic, "_write_synced", fail_on_second)
    with pytest.raises(AtomicWriteError, match=rf"^{old_folder}: cannot write \(Input/output error\)$"):
        replace_folder(old_folder, {"model.onnx": b"new", "golden.npz": b"new"})
    assert written  # it failed mid-way, after one file was staged
    assert folder(old_folder) == before
    assert listing(old_folder.parent) == ["A"]


def test_a_failed_swap_puts_the_old_folder_back(old_folder, monkeypatch):
    before = folder(old_folder)
    real = os.replace

    def fail_staging_rename(src, dst):
        if ".staging-" in str(src):
            raise OSError(30, "Read-only file system")
        real(src, dst)

    monkeypatch.setattr(_atomic.os, "replace", fail_staging_rename)
    with pytest.raises(AtomicWriteError, match=r"cannot write \(Read-only file system\)$"):
        replace_folder(old_folder, {"model.onnx": b"new"})
    assert folder(old_folder) == before
    assert listing(old_folder.parent) == ["A"]


def test_a_source_file_that_cannot_be_read_is_refused_before_anything_moves(old_folder, tmp_path):
    before = folder(old_folder)
    with pytest.raises(AtomicWriteError, match=rf"^{old_folder}: cannot write \(No such file or directory\)$"):
        replace_folder(old_folder, {"model.onnx": tmp_path / "missing.onnx"})
    assert folder(old_folder) == before and listing(old_folder.parent) == ["A"]


@pytest.mark.parametrize("name", ["", "..", "sub/file", "/abs"])
def test_names_that_are_not_plain_file_names_are_refused(old_folder, name):
    with pytest.raises(ValueError, match=r"is not a plain file name$"):
        replace_folder(old_folder, {name: b"x"})
    assert listing(old_folder.parent) == ["A"]


def test_recovery_after_a_reset_between_the_two_renames_restores_the_old_folder(old_folder):
    """A reset after the old folder was moved aside and before the new one was renamed in: the old
    folder is complete under its backup name, and recovery puts it back and clears the staging."""
    before = folder(old_folder)
    parent = old_folder.parent
    backup = parent / f".A{_atomic.BACKUP_TAG}12345"
    os.replace(old_folder, backup)
    staging = parent / f".A{_atomic.STAGING_TAG}abcd"
    staging.mkdir()
    (staging / "model.onnx").write_bytes(b"half of a new model")
    assert recover_folder(old_folder) is True
    assert folder(old_folder) == before
    assert listing(parent) == ["A"]


def test_recovery_after_a_reset_after_the_swap_keeps_the_new_folder_and_drops_the_backup(old_folder):
    parent = old_folder.parent
    (parent / f".A{_atomic.BACKUP_TAG}12345").mkdir()
    assert recover_folder(old_folder) is False
    assert folder(old_folder)["model.onnx"] == b"old model"
    assert listing(parent) == ["A"]
