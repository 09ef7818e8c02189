"""`ground monitor`: live housekeeping in a terminal table, and as JSON lines."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import IO

from flight import EventId, Housekeeping, Mode, PacketError, TimingReport, TmType, decode_event
from flight.executive._config import TASKS
from flight.storage import SLOTS

from ._link import GroundLink

_EVENT_TYPES = (TmType.EVENT_INFO, TmType.EVENT_LOW, TmType.EVENT_MEDIUM, TmType.EVENT_HIGH)
TIMING_ROWS = (*TASKS, "lateness")  # the timing report: one row per task in schedule order, then lateness


def _table(hk: Housekeeping | None, timing: TimingReport | None, events: list[str]):
    from rich.console import Group
    from rich.table import Table

    table = Table(title="seuguard housekeeping", show_header=True)
    table.add_column("field")
    table.add_column("value", justify="right")
    if hk is None:
        table.add_row("waiting", "no housekeeping yet")
    else:
        for key, value in asdict(hk).items():
            if key == "mode":
                value = Mode(value).name if value in Mode._value2member_map_ else f"unknown {value}"
            elif key == "active_slot":
                value = SLOTS[value] if value < len(SLOTS) else "none"
            elif key == "replicas_in_vote":
                value = ",".join(str(r) for r in range(value.bit_length()) if value >> r & 1) or "none"
            table.add_row(key, str(value))
    parts = [table]
    if timing is not None:
        t = Table(title=f"timing (us): overruns {timing.overruns}, skipped slots {timing.skipped_slots}")
        for col in ("task", "p50", "p99", "max"):
            t.add_column(col, justify="right")
        for name, row in zip(TIMING_ROWS, timing.task_us):
            t.add_row(name, *(str(v) for v in row))
        parts.append(t)
    if events:
        ev = Table(title="recent events")
        ev.add_column("event")
        for e in events[-8:]:
            ev.add_row(e)
        parts.append(ev)
    return Group(*parts)


def monitor(link: GroundLink, count: int = 0, duration: float = 0.0, json_out: IO[str] | None = None,
            live: bool = True) -> int:
    """Show housekeeping until `count` records or `duration` seconds (0: forever); return records seen."""
    hk: Housekeeping | None = None
    timing: TimingReport | None = None
    events: list[str] = []
    seen = 0
    deadline = time.monotonic() + duration if duration > 0 else None

    def run(update) -> int:
        nonlocal hk, timing, seen
        while (count <= 0 or seen < count) and (deadline is None or time.monotonic() < deadline):
            remaining = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            tm = link.receive(remaining)
            if tm is None:
                continue
            try:
                if tm.type is TmType.HOUSEKEEPING:
                    hk = Housekeeping.unpack(tm.data)
                    seen += 1
                    if json_out is not None:
                        json_out.write(json.dumps({"type": "housekeeping", **asdict(hk)}) + "\n")
                        json_out.flush()
                elif tm.type is TmType.TIMING:
                    timing = TimingReport.unpack(tm.data)
                elif tm.type in _EVENT_TYPES:
                    event_id, text = decode_event(tm.data)
                    name = EventId(event_id).name if event_id in EventId._value2member_map_ else str(event_id)
                    events.append(f"[{tm.cycle}] {name}: {text}")
                    del events[:-100]  # the table shows the last few; keep memory bounded
                    if json_out is not None:
                        json_out.write(json.dumps({"type": "event", "cycle": tm.cycle, "id": name, "text": text}) + "\n")
                        json_out.flush()
            except PacketError:
                link.undecodable += 1
                continue
            update()
        return seen

    if not live:
        return run(lambda: None)
    from rich.live import Live

    with Live(_table(hk, timing, events), refresh_per_second=4) as view:
        return run(lambda: view.update(_table(hk, timing, events)))
