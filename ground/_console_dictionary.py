"""The console's telemetry dictionary and decoder, both generated from flight's packet definitions.

Keys: `hk.<field>` (per-replica fields `hk.<field>.<replica>`), `timing.overruns`,
`timing.skipped_slots`, `timing.<task>.p50|p99|max`, `events` (text), `tc.verification` (text).
Limits are thresholds on the value: at or above `yellow` it shows yellow, at or above `red` red.
The counters are cumulative since boot (or the last RESET_COUNTERS), so a limit stays lit until
the operator resets them: what must be seen at once stays seen."""

from __future__ import annotations

from flight import (
    EventId,
    Housekeeping,
    Mode,
    RejectReason,
    TimingReport,
    TmPacket,
    TmType,
    decode_event,
    decode_verification,
)
from flight.comms._packets import HOUSEKEEPING_FIELDS
from flight.storage import SLOTS

from ._xtce import TIMING_ROWS

EVENT_TYPES = {TmType.EVENT_INFO: "INFO", TmType.EVENT_LOW: "LOW", TmType.EVENT_MEDIUM: "MEDIUM",
               TmType.EVENT_HIGH: "HIGH"}
VERIFICATION_TYPES = (TmType.ACCEPTED, TmType.REJECTED, TmType.COMPLETED, TmType.FAILED)

# What an operator must see at once: (yellow threshold, red threshold); None = no such level.
LIMITS: dict[str, tuple[int | None, int | None]] = {
    "hk.mode": (1, 2),  # DEGRADED yellow, SAFE red
    "hk.votes_failed": (1, None),
    "hk.unrecoverable": (None, 1),
    "hk.chunks_unrepairable": (None, 1),
    "hk.cmd_rejected": (1, None),
    "hk.uplink_refusals": (1, None),
    "timing.overruns": (1, None),
}
ENUMS = {
    "hk.mode": {m.value: m.name for m in Mode},
    "hk.active_slot": {**{i: s for i, s in enumerate(SLOTS)}, 255: "none"},
    "hk.uplink_staged_slot": {**{i: s for i, s in enumerate(SLOTS)}, 255: "none"},
    "hk.uplink_state": {0: "idle", 1: "verifying", 2: "staged", 3: "refused"},
}


def dictionary(replicas: int = 3) -> list[dict]:
    """Every measurement the console serves, in wire order: what the Open MCT plugin builds its
    objects from."""
    out = []

    def add(key, name, group, doc, fmt="integer"):
        m = {"key": key, "name": name, "group": group, "doc": doc, "format": fmt}
        if key in LIMITS:
            m["limits"] = dict(zip(("yellow", "red"), LIMITS[key]))
        if key in ENUMS:
            m["format"] = "enum"
            m["enumerations"] = [{"value": v, "string": s} for v, s in ENUMS[key].items()]
        out.append(m)

    for f in HOUSEKEEPING_FIELDS:
        if f.per_replica:
            for r in range(replicas):
                add(f"hk.{f.name}.{r}", f"{f.name} [replica {r}]", "housekeeping", f.doc)
        else:
            add(f"hk.{f.name}", f.name, "housekeeping", f.doc)
    add("timing.overruns", "overruns", "timing", "minor frames that ran past their slot")
    add("timing.skipped_slots", "skipped slots", "timing", "task slots skipped to catch up")
    for row in TIMING_ROWS:
        for stat in ("p50", "p99", "max"):
            add(f"timing.{row}.{stat}", f"{row} {stat} (us)", "timing", f"{row}: {stat} of its run time, microseconds")
    add("events", "events", "events", "event reports: severity, id, text", "string")
    add("tc.verification", "telecommand verification", "events", "PUS 1 reports: stage, request id, reason", "string")
    return out


def samples(tm: TmPacket) -> list[tuple[str, object]]:
    """(key, value) pairs of one telemetry packet; raises PacketError when its data is malformed."""
    if tm.type is TmType.HOUSEKEEPING:
        hk = Housekeeping.unpack(tm.data)
        out = []
        for f in HOUSEKEEPING_FIELDS:
            value = getattr(hk, f.name)
            if f.per_replica:
                out.extend((f"hk.{f.name}.{r}", v) for r, v in enumerate(value))
            else:
                out.append((f"hk.{f.name}", value))
        return out
    if tm.type is TmType.TIMING:
        timing = TimingReport.unpack(tm.data)
        out = [("timing.overruns", timing.overruns), ("timing.skipped_slots", timing.skipped_slots)]
        for row, triple in zip(TIMING_ROWS, timing.task_us):
            out.extend((f"timing.{row}.{stat}", v) for stat, v in zip(("p50", "p99", "max"), triple))
        return out
    if tm.type in EVENT_TYPES:
        event_id, text = decode_event(tm.data)
        name = EventId(event_id).name if event_id in EventId._value2member_map_ else f"EVENT_{event_id}"
        return [("events", f"{EVENT_TYPES[tm.type]} {name}: {text}")]
    if tm.type in VERIFICATION_TYPES:
        rid, reason, detail = decode_verification(tm.data)
        why = RejectReason(reason).name if reason in RejectReason._value2member_map_ else (str(reason) if reason else "")
        return [("tc.verification", f"{tm.type.name} {rid.hex()} {why} {detail}".rstrip())]
    return []  # inference results: not shown
