"""Atomic writes to onboard storage: a reset mid-write leaves the old content or the new, never a mix.

Two operations, both built from the same POSIX guarantees (a rename within one folder is atomic;
data and renames are durable only after fsync of the file and of its folder):

- `atomic_write_bytes(path, data)`: one small file (the slot store's `active` record). Temp file
  beside the target, write, fsync, `os.replace`, fsync the folder.
- `replace_folder(target, files)`: a whole folder (a model folder written by `ground package`, later
  a slot written by the uplink). The files go into a staging folder beside the target, each file and
  the staging folder are fsynced, then the old folder is renamed aside, the staging folder renamed
  into place, the parent fsynced, and the old folder deleted. At every instant a complete folder
  exists under the target's name or under its backup name; `recover_folder` puts a backup left by a
  reset back in place and removes staging debris.

A failure before the swap leaves the target untouched and removes the staging folder; a failure of
the swap itself puts the old folder back. Every failure is one `AtomicWriteError` naming the path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from .._errors import SeuguardError

BACKUP_TAG = ".old-"  # backup of a folder being replaced: `.{name}.old-{pid}` beside it
STAGING_TAG = ".staging-"  # staging folder: `.{name}.staging-XXXXXXXX` beside it


class AtomicWriteError(SeuguardError):
    """Storage refused a write (full, read-only, missing folder); the old content is still in place."""


def _fsync_path(path: Path, directory: bool) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, content: bytes | Path) -> None:
    """Write bytes, or copy a file (streamed: a model may be large), and fsync it."""
    with open(path, "wb") as f:
        if isinstance(content, Path):
            with open(content, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)
        else:
            f.write(bytes(content))
        f.flush()
        os.fsync(f.fileno())


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Replace the file `path` with `data` atomically and durably."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise AtomicWriteError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_path(path.parent, directory=True)
    except OSError as exc:
        raise AtomicWriteError(f"{path}: cannot write ({exc.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def replace_folder(target: Path | str, files: Mapping[str, bytes | Path]) -> None:
    """Make `target` a folder holding exactly `files` (name -> bytes, or a file to copy), atomically.

    Names must be plain file names. The old folder, if any, is replaced as a whole: files it held
    that are not in `files` are gone afterwards."""
    target = Path(target)
    for name in files:
        if not name or Path(name).name != name or name in (".", ".."):
            raise ValueError(f"{name!r} is not a plain file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING_TAG}", dir=target.parent))
    except OSError as exc:
        raise AtomicWriteError(f"{target}: cannot stage ({exc.strerror})") from None
    try:
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a model folder is ordinary data
        for name, content in files.items():
            _write_synced(staging / name, content)
        _fsync_path(staging, directory=True)
        _swap(staging, target)
    except OSError as exc:
        raise AtomicWriteError(f"{target}: cannot write ({exc.strerror})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _swap(staging: Path, target: Path) -> None:
    backup = None
    if target.exists():
        backup = target.parent / f".{target.name}{BACKUP_TAG}{os.getpid()}"
        if backup.exists():
            shutil.rmtree(backup)
        os.replace(target, backup)
    try:
        os.replace(staging, target)
    except OSError:
        if backup is not None:
            os.replace(backup, target)
        raise
    _fsync_path(target.parent, directory=True)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def recover_folder(target: Path | str) -> bool:
    """After a reset: if `target` is missing but a backup of it exists, put the backup back; remove
    staging folders and stale backups beside it. Return True when a backup was restored."""
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return False
    backups = sorted(p for p in parent.iterdir() if p.name.startswith(f".{target.name}{BACKUP_TAG}"))
    restored = False
    if not target.exists() and backups:
        os.replace(backups.pop(), target)
        _fsync_path(parent, directory=True)
        restored = True
    for p in parent.iterdir():
        if p.name.startswith(f".{target.name}{STAGING_TAG}") or p in backups:
            shutil.rmtree(p, ignore_errors=True)
    return restored
