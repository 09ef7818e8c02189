"""`flight replay`: re-run a recording through a fresh executive and reproduce its digest.

The recording's header names the model store, the slot that was active when the flight started and
a fingerprint of every slot's files. Replay refuses a store whose slots changed since, and runs on a
pinned view of it: it starts from the recorded active slot and never writes the flight's store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .executive._config import parse_config
from .executive._executive import Executive
from .comms._recording import FRAME, RecordingError, read_recording
from .storage._store import SlotStore


def recording_header(store: SlotStore, config_text: str, config_source: str, **extra: Any) -> dict[str, Any]:
    """What a replay needs to rebuild the flight: call before the executive boots."""
    return {
        "store_root": str(store.root.resolve()) if store.root is not None else None,
        "model": str(store.slot_dir("A").resolve()) if store.root is None else None,
        "active_slot": store.active(),
        "slots": store.fingerprint(),
        "config_text": config_text,
        "config_source": config_source,
        **extra,
    }


def replay(path: Path | str) -> dict[str, Any]:
    header, records = read_recording(path)
    records = list(records)  # read and check every record before anything runs
    try:
        store = SlotStore.open(header["store_root"]) if header.get("store_root") else SlotStore.single(header["model"])
        store = store.pinned(header.get("active_slot", "A"))
        config = parse_config(header["config_text"], header.get("config_source", "config"))
    except (KeyError, TypeError):
        raise RecordingError(f"{path}: header lacks the model store or configuration") from None
    recorded = header.get("slots")
    current = store.fingerprint() if recorded is not None else None
    if recorded is not None and current != recorded:
        changed = [s for s in ("A", "B") if current.get(s) != recorded.get(s)]
        raise RecordingError(f"{path}: slot {changed[0]} of the model store changed since the recording")
    executive = Executive(store, config, actuate=lambda outputs: None, fallback=lambda inputs: None,
                          redundancy=header.get("redundancy"), scheduling=header.get("scheduling"))
    telecommands = 0
    try:
        pending = None
        for record in records + [None]:
            if record is None or record.kind == FRAME:
                if pending is not None:
                    if pending.cycle != executive.cycle + 1:
                        raise RecordingError(f"{path}: frame for cycle {pending.cycle} out of order")
                    executive.step(pending.arrays())
                pending = record
            else:
                if pending is None or record.cycle != pending.cycle:
                    raise RecordingError(f"{path}: telecommand at cycle {record.cycle} outside its frame")
                executive.uplink(record.payload)
                telecommands += 1
        executive.flush_telemetry()
        hk = executive.housekeeping()
        return {
            "cycles": executive.cycle,
            "telecommands": telecommands,
            "final_mode": executive.mode.name,
            "votes_unanimous": hk.votes_unanimous,
            "votes_corrected": hk.votes_corrected,
            "votes_failed": hk.votes_failed,
            "telemetry_sha256": executive.digest.hexdigest(),
        }
    finally:
        executive.close()
