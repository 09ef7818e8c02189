"""Staging a model folder into a slot atomically, and undoing a half-done swap after a power cut.

`stage_slot` builds the new folder beside the slot (`.B.staging-uplink`), fsyncs every file and the
folder, then swaps it in with two renames (`B` -> `.B.old-uplink`, staging -> `B`) made durable by
one fsync of the store folder, then deletes the old folder. A fresh folder is written every time, so
a shorter model replacing a longer one leaves no stale bytes. `recover_slots` (run before any use of
the store) puts the old folder back if a cut fell between the two renames and removes leftovers, so
a slot is always the old folder or the new one, never a mix.

Why not `flight.storage.replace_folder`: the uplink verifies the very bytes on storage (open_model,
golden vectors) between writing the staging folder and the swap, which that one call cannot. The
names follow its convention (`.{name}.staging-*`, `.{name}.old-*`), so `recover_folder` also
undoes an interrupted uplink swap.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._durable import fsync_dir, remove_tree, write_file

SLOTS = ("A", "B")


def _paths(root: Path, slot: str) -> tuple[Path, Path, Path]:
    return root / slot, root / f".{slot}.staging-uplink", root / f".{slot}.old-uplink"


def staging_dir(root: Path | str, slot: str) -> Path:
    return _paths(Path(root), slot)[1]


def stage_slot(root: Path | str, slot: str, files: dict[str, bytes]) -> None:
    root = Path(root)
    target, stage, old = _paths(root, slot)
    remove_tree(stage)
    os.mkdir(stage)
    for name, data in sorted(files.items()):
        write_file(stage / name, data)
    fsync_dir(stage)
    commit_stage(root, slot)


def commit_stage(root: Path | str, slot: str) -> None:
    """Swap a complete, fsynced staging folder into `<slot>`: durable after one fsync."""
    root = Path(root)
    target, stage, old = _paths(root, slot)
    remove_tree(old)
    if os.path.lexists(target):
        os.rename(target, old)
    os.rename(stage, target)
    fsync_dir(root)
    remove_tree(old)  # not fsynced: if a cut brings the old folder back, recover_slots removes it


def recover_slots(root: Path | str) -> list[str]:
    """Finish or undo an interrupted swap; returns what it did (for an event)."""
    root = Path(root)
    done = []
    for slot in SLOTS:
        target, stage, old = _paths(root, slot)
        if not os.path.lexists(target) and os.path.lexists(old):
            os.rename(old, target)
            done.append(f"slot {slot}: restored the previous folder after an interrupted swap")
        if os.path.lexists(old):
            remove_tree(old)
            done.append(f"slot {slot}: removed the replaced folder")
        if os.path.lexists(stage):
            remove_tree(stage)
            done.append(f"slot {slot}: removed an unfinished staging folder")
    if done:
        fsync_dir(root)
    return done
