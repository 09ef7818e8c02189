"""Durable file operations for the uplink's writes, on plain `os` calls only.

Why plain `os`: the power-loss test records exactly these calls (open, write, fsync, rename,
unlink, mkdir, rmdir) and replays only what fsync made durable, as ALICE and CrashMonkey do. A
rename is durable only once its folder is fsynced; a file's bytes only once the file is.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path | str, data: bytes) -> None:
    """Create or truncate `path`, write all of `data`, fsync the file (not its folder)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: Path | str, data: bytes) -> None:
    """Atomically replace `path` with `data`: temp file, fsync, rename, fsync the folder."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    write_file(tmp, data)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove_tree(path: Path | str) -> None:
    """Delete a folder and everything in it (no-op if absent)."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        for entry in os.scandir(path):
            remove_tree(entry.path)
        os.rmdir(path)
    else:
        os.unlink(path)
