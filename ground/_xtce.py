"""`ground dictionary --xtce`: seuguard's telemetry and command dictionary as XTCE 1.2 (yamcs-pymdb).

Generated from flight's own packet definitions (housekeeping fields, timing report, events,
verification reports, COMMANDS), never written a second time, so Yamcs or another XTCE ground
system decodes exactly what the flight sends. Entry positions are absolute bit positions in the
packet (CCSDS primary header + PUS-C secondary header with the 8-byte cycle counter as time).

Not described: the ASCII text after an event id or a verification reason (neither terminated nor
length-prefixed: it runs to the CRC), and the CRC-16 itself. Per-replica housekeeping fields are
laid out for a fixed replica count (--replicas, default 3); the flight's length says how many."""

from __future__ import annotations

import struct

from flight import COMMANDS, TASKS, EventId, RejectReason, TmType
from flight.comms._packets import APID, HOUSEKEEPING_FIELDS, TIMESTAMP_LEN

TM_HEADER_BITS = (6 + 7 + TIMESTAMP_LEN) * 8  # primary header, PUS-C TM secondary header, time
TC_HEADER_BITS = (6 + 5) * 8  # primary header, PUS-C TC secondary header (version/ack, service, subtype, source id)
TIMING_ROWS = (*TASKS, "lateness")  # one row per task in schedule order, then lateness
DEFAULT_REPLICAS = 3


def housekeeping_layout(replicas: int = DEFAULT_REPLICAS) -> list[tuple[str, int, int]]:
    """(parameter name, bit position in the packet, bits) of every housekeeping value, in wire
    order; a per-replica field becomes NAME_0 .. NAME_{replicas-1}."""
    out, pos = [], TM_HEADER_BITS
    for f in HOUSEKEEPING_FIELDS:
        names = [f"{f.name}_{r}" for r in range(replicas)] if f.per_replica else [f.name]
        for name in names:
            out.append((name, pos, f.bits))
            pos += f.bits
    return out


def timing_layout() -> list[tuple[str, int, int]]:
    names = ["overruns", "skipped_slots"] + [f"{row}_{stat}_us" for row in TIMING_ROWS for stat in ("p50", "p99", "max")]
    return [(f"timing_{n}", TM_HEADER_BITS + 32 * i, 32) for i, n in enumerate(names)]


def build_system(replicas: int = DEFAULT_REPLICAS):
    """The XTCE space system: containers restricted by APID, PUS service and subtype; commands."""
    from yamcs.pymdb import ccsds
    from yamcs.pymdb.commands import ArgumentEntry, Command, FixedValueEntry, IntegerArgument
    from yamcs.pymdb.containers import Container, ParameterEntry
    from yamcs.pymdb.encodings import IntegerEncoding
    from yamcs.pymdb.expressions import AndExpression, EqExpression
    from yamcs.pymdb.parameters import EnumeratedParameter, IntegerParameter
    from yamcs.pymdb.systems import System

    system = System("seuguard")
    header = ccsds.add_ccsds_header(system)

    def uint(name: str, bits: int, doc: str = "") -> IntegerParameter:
        return IntegerParameter(system=system, name=name, signed=False, bits=bits, short_description=doc or None,
                                encoding=IntegerEncoding(bits=bits))

    service = uint("pus_service", 8, "PUS service type")
    subtype = uint("pus_subtype", 8, "PUS message subtype")
    pus_tm = Container(
        system=system, name="pus_tm", base=header.tm_container, abstract=True,
        condition=EqExpression(header.tm_apid, APID),
        short_description="seuguard PUS-C telemetry: the time field carries the cycle counter",
        entries=[
            ParameterEntry(uint("pus_version_time_ref", 8, "PUS version 2 in the high nibble"), 48),
            ParameterEntry(service, 56),
            ParameterEntry(subtype, 64),
            ParameterEntry(uint("pus_message_counter", 16), 72),
            ParameterEntry(uint("pus_destination_id", 16), 88),
            ParameterEntry(uint("cycle", 64, "minor frames since boot (the packet's time field)"), 104),
        ],
    )

    def packet(kind: TmType, name: str, entries, doc: str) -> None:
        s, t = kind.value
        Container(system=system, name=name, base=pus_tm, short_description=doc, entries=entries,
                  condition=AndExpression(EqExpression(service, s), EqExpression(subtype, t)))

    docs = {f.name: f.doc for f in HOUSEKEEPING_FIELDS}
    hk_entries = []
    for name, pos, bits in housekeeping_layout(replicas):
        field_name = name if name in docs else name.rsplit("_", 1)[0]
        hk_entries.append(ParameterEntry(uint(f"hk_{name}", bits, docs[field_name]), pos))
    packet(TmType.HOUSEKEEPING, "housekeeping", hk_entries,
           f"housekeeping, once per major frame ({replicas} replicas)")
    packet(TmType.TIMING, "timing_report",
           [ParameterEntry(uint(name, bits), pos) for name, pos, bits in timing_layout()],
           "timing report: overruns, skipped slots, per-task p50/p99/max in microseconds")

    event_id = EnumeratedParameter(system=system, name="event_id", choices=[(e.value, e.name) for e in EventId],
                                   encoding=IntegerEncoding(bits=16), short_description="followed by ASCII text")
    for kind in (TmType.EVENT_INFO, TmType.EVENT_LOW, TmType.EVENT_MEDIUM, TmType.EVENT_HIGH):
        packet(kind, kind.name.lower(), [ParameterEntry(event_id, TM_HEADER_BITS)], f"event, {kind.name}")

    request_id = uint("request_id", 32, "packet id and sequence control of the telecommand")
    reason = EnumeratedParameter(system=system, name="reject_reason",
                                 choices=[(0, "NONE")] + [(r.value, r.name) for r in RejectReason],
                                 encoding=IntegerEncoding(bits=16))
    for kind in (TmType.ACCEPTED, TmType.REJECTED, TmType.COMPLETED, TmType.FAILED):
        packet(kind, f"verification_{kind.name.lower()}",
               [ParameterEntry(request_id, TM_HEADER_BITS), ParameterEntry(reason, TM_HEADER_BITS + 32)],
               f"PUS 1 verification report: {kind.name}")

    pus_tc = Command(
        system=system, name="pus_tc", base=header.tc_command, abstract=True,
        assignments={header.tc_apid.name: APID, header.tc_secondary_header.name: "Present"},
        short_description="seuguard PUS-C telecommand; CRC-16/CCITT-FALSE appended by the link",
    )
    for code, spec in COMMANDS.items():
        fmt = spec.args.lstrip(">")
        arguments = [
            IntegerArgument(name=f"arg{i}", signed=False, bits=struct.calcsize(">" + kind) * 8, minimum=low,
                            maximum=high, encoding=IntegerEncoding(bits=struct.calcsize(">" + kind) * 8))
            for i, (kind, (low, high)) in enumerate(zip(fmt, spec.limits))
        ]
        Command(
            system=system, name=code.name, base=pus_tc, arguments=arguments,
            short_description=f"PUS {spec.service},{spec.subtype}",
            entries=[FixedValueEntry(bytes([0x2F, spec.service, spec.subtype, 0, 0]), "pus_tc_secondary_header",
                                     bitpos=48, bits=40)]
            + [ArgumentEntry(a) for a in arguments],
        )
    return system


def write_xtce(path, replicas: int = DEFAULT_REPLICAS) -> None:
    from pathlib import Path

    Path(path).write_text(build_system(replicas).dumps())
