"""Packet formats: CCSDS Space Packets with PUS-C telecommands and telemetry (spacepackets).

One definition of every format, shared by the flight and by `ground` (which imports it).

Telecommands (APID 0x0C8, CRC-16/CCITT-FALSE error control):
  NOOP                 PUS 17,1   no data              connection test; always accepted
  RESET_COUNTERS       128,1      no data              zero the command, vote and scrub counters
  SET_MODE             128,2      u8 mode 0..2         NOMINAL, DEGRADED or SAFE
  SCRUB_NOW            128,3      no data              verify and repair every image in the next scrub slot
  SET_SCRUB_BUDGET     128,4      u32 bytes 64..2^30   bytes per scrub task
  ACTIVATE_SLOT        128,5      u8 slot 0..1         verify, self-test and switch to slot A or B
  ROLLBACK             128,6      no data              switch back to the other slot

Every telecommand is decoded, then verified (length, range), then handled; `decode_command` never
raises: a bad packet becomes a `Rejection` with a named reason.

Telemetry (same APID; the 8-byte PUS time field carries the cycle counter, never the wall clock):
  1,1 / 1,2            acceptance success / failure (request id, reason code, text)
  1,7 / 1,8            completion success / failure
  3,25                 housekeeping, once per major frame (`Housekeeping`, deterministic)
  3,26                 timing report, every major frame: overruns, skipped slots, and per-task
                       p50/p99/max (refreshed every 10 major frames); wall-clock facts, so outside
                       the telemetry digest
  5,1..4               events by severity
  128,128              voted inference result of a cycle: 0x00 (fallback flew), 0x01 + output bytes,
                       or 0x02 + CRC-32C u32 + size u32 + first 4096 bytes for large outputs
"""

from __future__ import annotations

import enum
import functools
import struct
from dataclasses import dataclass, field, fields

from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import PusTm

from .._crc import crc16_ccitt_false

APID = 0x0C8
TIMESTAMP_LEN = 8
MAX_TC_LENGTH = 1024


class CommandCode(enum.IntEnum):
    NOOP = 0
    RESET_COUNTERS = 1
    SET_MODE = 2
    SCRUB_NOW = 3
    SET_SCRUB_BUDGET = 4
    ACTIVATE_SLOT = 5
    ROLLBACK = 6


@dataclass(frozen=True)
class CommandSpec:
    service: int
    subtype: int
    args: str  # struct format of the application data, big-endian
    limits: tuple[tuple[int, int], ...]  # inclusive range of each argument


COMMANDS: dict[CommandCode, CommandSpec] = {
    CommandCode.NOOP: CommandSpec(17, 1, "", ()),
    CommandCode.RESET_COUNTERS: CommandSpec(128, 1, "", ()),
    CommandCode.SET_MODE: CommandSpec(128, 2, ">B", ((0, 2),)),
    CommandCode.SCRUB_NOW: CommandSpec(128, 3, "", ()),
    CommandCode.SET_SCRUB_BUDGET: CommandSpec(128, 4, ">I", ((64, 1 << 30),)),
    CommandCode.ACTIVATE_SLOT: CommandSpec(128, 5, ">B", ((0, 1),)),
    CommandCode.ROLLBACK: CommandSpec(128, 6, "", ()),
}
_BY_SERVICE = {(s.service, s.subtype): code for code, s in COMMANDS.items()}


class RejectReason(enum.IntEnum):
    TRUNCATED = 1  # shorter than its headers or its own length field
    WRONG_LENGTH = 2  # longer than its length field, or application data of the wrong size
    BAD_CRC = 3  # CRC-16/CCITT-FALSE does not match
    NOT_A_TELECOMMAND = 4  # packet type is telemetry, or the CCSDS version is not 0
    UNKNOWN_APID = 5
    UNKNOWN_SERVICE = 6  # no command has this service and subtype
    BAD_ARGUMENT = 7  # an argument outside its limits
    MALFORMED = 8  # headers that spacepackets cannot parse (e.g. not PUS-C)
    REFUSED = 9  # a valid command that could not be executed (e.g. the slot failed verification)
    QUEUE_FULL = 10  # arrived while the telecommand queue was full


@dataclass(frozen=True)
class Command:
    code: CommandCode
    args: tuple[int, ...]
    request_id: bytes  # packet id and sequence control: what the verification report echoes
    seq_count: int


@dataclass(frozen=True)
class Rejection:
    reason: RejectReason
    detail: str
    request_id: bytes


def encode_command(code: CommandCode, args: tuple[int, ...] = (), seq_count: int = 0, apid: int = APID) -> bytes:
    spec = COMMANDS[CommandCode(code)]
    data = struct.pack(spec.args, *args) if spec.args else b""
    return bytes(PusTc(service=spec.service, message_subtype=spec.subtype, apid=apid, seq_count=seq_count & 0x3FFF,
                       app_data=data).pack())


def decode_command(raw: bytes) -> Command | Rejection:
    """Decode and verify one telecommand; never raises."""
    raw = bytes(raw)
    rid = raw[:4].ljust(4, b"\x00")
    if len(raw) < 6:
        return Rejection(RejectReason.TRUNCATED, f"{len(raw)} bytes, shorter than a packet header", rid)
    if len(raw) > MAX_TC_LENGTH:
        return Rejection(RejectReason.WRONG_LENGTH, f"{len(raw)} bytes, longer than {MAX_TC_LENGTH}", rid)
    version, is_tc = raw[0] >> 5, (raw[0] >> 4) & 1
    apid = ((raw[0] & 0x07) << 8) | raw[1]
    data_len = ((raw[4] << 8) | raw[5]) + 1
    if version != 0 or not is_tc:
        return Rejection(RejectReason.NOT_A_TELECOMMAND, f"version {version}, type {'TC' if is_tc else 'TM'}", rid)
    if len(raw) < 6 + data_len:
        return Rejection(RejectReason.TRUNCATED, f"{len(raw)} bytes, length field says {6 + data_len}", rid)
    if len(raw) > 6 + data_len:
        return Rejection(RejectReason.WRONG_LENGTH, f"{len(raw)} bytes, length field says {6 + data_len}", rid)
    if data_len < 5 + 2:
        return Rejection(RejectReason.TRUNCATED, "no room for the PUS header and CRC", rid)
    crc = crc16_ccitt_false(raw[:-2])
    if crc != int.from_bytes(raw[-2:], "big"):
        return Rejection(RejectReason.BAD_CRC, f"CRC 0x{int.from_bytes(raw[-2:], 'big'):04x}, computed 0x{crc:04x}", rid)
    if apid != APID:
        return Rejection(RejectReason.UNKNOWN_APID, f"APID 0x{apid:03x}", rid)
    try:
        tc = PusTc.unpack(raw)
    except Exception as exc:  # spacepackets raises several types for headers it cannot parse
        return Rejection(RejectReason.MALFORMED, f"unparseable PUS header ({exc.__class__.__name__})", rid)
    code = _BY_SERVICE.get((tc.service, tc.message_subtype))
    if code is None:
        return Rejection(RejectReason.UNKNOWN_SERVICE, f"service {tc.service},{tc.message_subtype}", rid)
    spec = COMMANDS[code]
    size = struct.calcsize(spec.args) if spec.args else 0
    if len(tc.app_data) != size:
        return Rejection(RejectReason.WRONG_LENGTH, f"{code.name} takes {size} data bytes, got {len(tc.app_data)}", rid)
    args = struct.unpack(spec.args, tc.app_data) if spec.args else ()
    for value, (low, high) in zip(args, spec.limits):
        if not low <= value <= high:
            return Rejection(RejectReason.BAD_ARGUMENT, f"{code.name} argument {value} outside [{low}, {high}]", rid)
    return Command(code, tuple(args), rid, tc.seq_count)


# --- telemetry ---------------------------------------------------------------------------------


class TmType(enum.Enum):
    ACCEPTED = (1, 1)
    REJECTED = (1, 2)
    COMPLETED = (1, 7)
    FAILED = (1, 8)
    HOUSEKEEPING = (3, 25)
    TIMING = (3, 26)
    EVENT_INFO = (5, 1)
    EVENT_LOW = (5, 2)
    EVENT_MEDIUM = (5, 3)
    EVENT_HIGH = (5, 4)
    RESULT = (128, 128)


_TM_BY_PAIR = {t.value: t for t in TmType}


class PacketError(ValueError):
    """A telemetry packet the ground cannot decode."""


@dataclass(frozen=True)
class TmPacket:
    type: TmType
    cycle: int
    data: bytes
    seq_count: int = 0


_TM_HEADER = struct.Struct(">HHHBBBHHQ")  # primary header, PUS-C TM secondary header, 8-byte time


def encode_tm(kind: TmType, cycle: int, data: bytes, seq_count: int) -> bytes:
    """One PUS-C telemetry packet, byte for byte what spacepackets' `PusTm.pack()` gives (a test
    checks it), packed directly because this runs several times per cycle: `PusTm` costs ~40 us."""
    service, subtype = kind.value
    header = _TM_HEADER.pack(
        0x0800 | APID,  # version 0, telemetry, secondary header present
        0xC000 | (seq_count & 0x3FFF),  # unsegmented
        _TM_HEADER.size - 6 + len(data) + 2 - 1,
        0x20,  # PUS version 2 (PUS-C), time reference status 0
        service, subtype,
        0,  # message type counter
        0,  # destination id
        cycle & 0xFFFF_FFFF_FFFF_FFFF,
    )
    packet = header + bytes(data)
    return packet + crc16_ccitt_false(packet).to_bytes(2, "big")


def encode_tm_reference(kind: TmType, cycle: int, data: bytes, seq_count: int) -> bytes:
    """The same packet built by spacepackets: the reference `encode_tm` is tested against."""
    service, subtype = kind.value
    return bytes(PusTm(service=service, message_subtype=subtype, timestamp=cycle.to_bytes(TIMESTAMP_LEN, "big"),
                       source_data=data, apid=APID, seq_count=seq_count & 0x3FFF).pack())


def decode_tm(raw: bytes) -> TmPacket:
    try:
        tm = PusTm.unpack(bytes(raw), timestamp_len=TIMESTAMP_LEN)
    except Exception as exc:
        raise PacketError(f"undecodable telemetry packet ({exc.__class__.__name__})") from None
    kind = _TM_BY_PAIR.get((tm.service, tm.message_subtype))
    if kind is None:
        raise PacketError(f"unknown telemetry service {tm.service},{tm.message_subtype}")
    return TmPacket(kind, int.from_bytes(tm.timestamp, "big"), bytes(tm.source_data), tm.seq_count)


_VERIFICATION_SERVICE = TmType.ACCEPTED.value[0]
_VERIFICATION_SUBTYPES = {t.value[1]: t in (TmType.REJECTED, TmType.COMPLETED, TmType.FAILED)
                          for t in (TmType.ACCEPTED, TmType.REJECTED, TmType.COMPLETED, TmType.FAILED)}
_REQUEST_ID_LEN = 4


def verification_of(packet: bytes) -> tuple[bytes, bool] | None:
    """(request id, final) when `packet` is one of our PUS 1 verification reports, else None.

    Reads the header once, with the same layout `encode_tm` writes (never raises, no spacepackets:
    the serve loop asks this of every packet it sends). Final reports (rejected, completed, failed)
    end a command's story; acceptance does not."""
    if len(packet) < _TM_HEADER.size + _REQUEST_ID_LEN + 2:
        return None
    ident, _seq, length, pus, service, subtype, _counter, _dest, _time = _TM_HEADER.unpack_from(packet)
    if ident & 0xF800 != 0x0800 or ident & 0x07FF != APID or length + 7 != len(packet) or pus >> 4 != 2:
        return None  # not version 0 telemetry with a secondary header, or not ours, or mis-sized
    if service != _VERIFICATION_SERVICE or subtype not in _VERIFICATION_SUBTYPES:
        return None
    start = _TM_HEADER.size
    return bytes(packet[start : start + _REQUEST_ID_LEN]), _VERIFICATION_SUBTYPES[subtype]


def encode_verification(request_id: bytes, reason: int = 0, text: str = "") -> bytes:
    return request_id[:4].ljust(4, b"\x00") + struct.pack(">H", reason) + text.encode("ascii", "replace")[:200]


def decode_verification(data: bytes) -> tuple[bytes, int, str]:
    if len(data) < 6:
        raise PacketError("verification report too short")
    return data[:4], struct.unpack(">H", data[4:6])[0], data[6:].decode("ascii", "replace")


def encode_event(event_id: int, text: str) -> bytes:
    return struct.pack(">H", event_id) + text.encode("ascii", "replace")[:200]


def decode_event(data: bytes) -> tuple[int, str]:
    if len(data) < 2:
        raise PacketError("event too short")
    return struct.unpack(">H", data[:2])[0], data[2:].decode("ascii", "replace")


# Wire types of housekeeping fields: big-endian unsigned integers of an explicit width.
U8, U16, U32, U64 = "B", "H", "I", "Q"
_TYPE_MAX = {U8: (1 << 8) - 1, U16: (1 << 16) - 1, U32: (1 << 32) - 1, U64: (1 << 64) - 1}


@dataclass(frozen=True)
class HkField:
    """One housekeeping field as it goes on the wire: what ground tools and dictionaries read."""

    name: str
    type: str  # struct code: U8, U16, U32 or U64
    doc: str
    per_replica: bool  # one value per replica id (the count follows from the packet length)

    @property
    def bits(self) -> int:
        return struct.calcsize(">" + self.type) * 8


def _hk(kind: str, doc: str, per_replica: bool = False):
    return field(metadata={"type": kind, "doc": doc, "per_replica": per_replica})


@dataclass(frozen=True)
class Housekeeping:
    """The executive's flat housekeeping record, one per major frame (cFS HS style).

    Declared field by field with its wire type; the order here is the order on the wire. A field
    holding a tuple has one value per replica id, so N-modular redundancy needs no new fields. The
    executive fills every field by name from its components' statistics records."""

    cycle: int = _hk(U64, "minor frames since boot")
    mode: int = _hk(U8, "0 NOMINAL, 1 DEGRADED, 2 SAFE")
    active_slot: int = _hk(U8, "0 A, 1 B, 255 none")
    replicas_in_vote: int = _hk(U8, "bit mask of replica ids not quarantined")
    cmd_accepted: int = _hk(U32, "telecommands accepted and completed")
    cmd_rejected: int = _hk(U32, "telecommands refused, for any reason")
    inferences: int = _hk(U32, "decisions the engine was asked for")
    votes_unanimous: int = _hk(U32, "votes where every replica agreed")
    votes_corrected: int = _hk(U32, "votes where a replica was outvoted")
    votes_failed: int = _hk(U32, "vote attempts with no majority or an invalid output")
    reexecutions: int = _hk(U32, "replica re-runs after a failed vote")
    unrecoverable: int = _hk(U32, "decisions that stayed without a majority (fallback flew)")
    suspects: tuple[int, ...] = _hk(U32, "per replica: times outvoted", per_replica=True)
    watchdog_timeouts: int = _hk(U32, "replica runs abandoned at their deadline")
    inputs_rejected: int = _hk(U32, "sensor frames refused (spec, NaN, CRC)")
    fallback_cycles: int = _hk(U32, "minor frames flown by the fallback controller")
    safe_mode_cycles: int = _hk(U32, "minor frames spent in SAFE")
    mode_transitions: int = _hk(U32, "mode changes after boot")
    replica_rebuilds: int = _hk(U32, "replicas rebuilt from storage")
    model_reloads: int = _hk(U32, "models reloaded from the active slot")
    rollbacks: int = _hk(U32, "switches back to the other slot")
    bytes_scrubbed: int = _hk(U32, "weight bytes checked by the scrubber")
    chunks_repaired: int = _hk(U32, "chunks fixed, by majority or from storage")
    chunks_reloaded: int = _hk(U32, "of those, fixed from storage")
    chunks_unrepairable: int = _hk(U32, "chunks neither majority nor storage could fix")
    scrub_full_passes: int = _hk(U32, "full passes over every image")
    scrub_period_cycles: int = _hk(U32, "minor frames one full pass takes at the current budget")
    cycles_since_verified: tuple[int, ...] = _hk(
        U32, "per replica: minor frames since its image was last fully verified", per_replica=True)
    events: int = _hk(U32, "events sent")
    events_suppressed: int = _hk(U32, "events the per-id filter held back (a burst)")
    active_record_faults: int = _hk(U32, "reads of a corrupt `active` record (A assumed)")
    disagreements_verified: int = _hk(U32, "votes short of unanimous whose images were CRC-checked")
    images_failed_verification: int = _hk(U32, "replica images those checks found corrupted")
    tc_kernel_drops: int = _hk(U32, "telecommand datagrams the kernel dropped (receive buffer full)")
    uplink_pdus: int = _hk(U32, "file-transfer PDUs received on the uplink APID")
    uplink_files: int = _hk(U32, "patches received whole")
    uplink_refusals: int = _hk(U32, "patches refused (quarantined, nothing staged)")
    uplink_state: int = _hk(U8, "0 idle, 1 verifying, 2 staged, 3 refused")
    uplink_staged_slot: int = _hk(U8, "slot holding a verified patch: 0 A, 1 B, 255 none")
    uplink_highest_sequence: int = _hk(U32, "highest patch sequence accepted (2^32-1: record corrupt)")

    def pack(self) -> bytes:
        values: list[int] = []
        replicas = 0
        for f in HOUSEKEEPING_FIELDS:
            value = getattr(self, f.name)
            top = _TYPE_MAX[f.type]
            if f.per_replica:
                replicas = len(value)
                values.extend(min(max(int(v), 0), top) for v in value)
            else:
                values.append(min(max(int(value), 0), top))
        return _hk_struct(replicas).pack(*values)

    @classmethod
    def unpack(cls, data: bytes) -> "Housekeeping":
        data = bytes(data)
        fixed = sum(f.bits // 8 for f in HOUSEKEEPING_FIELDS if not f.per_replica)
        unit = sum(f.bits // 8 for f in HOUSEKEEPING_FIELDS if f.per_replica)
        replicas, rest = divmod(len(data) - fixed, unit)
        if len(data) < fixed + unit or rest:
            raise PacketError(f"housekeeping is {len(data)} bytes, expected {fixed} + {unit} per replica")
        values, pos = {}, 0
        for f in HOUSEKEEPING_FIELDS:
            n = replicas if f.per_replica else 1
            got = struct.unpack_from(f">{n}{f.type}", data, pos)
            pos += n * (f.bits // 8)
            values[f.name] = tuple(got) if f.per_replica else got[0]
        return cls(**values)


@functools.lru_cache(maxsize=16)
def _hk_struct(replicas: int) -> struct.Struct:
    """The wire layout for a replica count, built once."""
    return struct.Struct(">" + "".join(f.type * (replicas if f.per_replica else 1) for f in HOUSEKEEPING_FIELDS))


HOUSEKEEPING_FIELDS: tuple[HkField, ...] = tuple(
    HkField(f.name, f.metadata["type"], f.metadata["doc"], f.metadata["per_replica"]) for f in fields(Housekeeping)
)


@dataclass(frozen=True)
class TimingReport:
    """Wall-clock statistics per task over the last major frames: outside the telemetry digest."""

    overruns: int
    skipped_slots: int
    # per task in config TASKS order: p50, p99, max in microseconds
    task_us: tuple[tuple[int, int, int], ...]

    def pack(self) -> bytes:
        flat = [v for triple in self.task_us for v in triple]
        return struct.pack(f">II{len(flat)}I", self.overruns, self.skipped_slots, *[min(v, (1 << 32) - 1) for v in flat])

    @classmethod
    def unpack(cls, data: bytes) -> "TimingReport":
        if len(data) < 8 or (len(data) - 8) % 12:
            raise PacketError("timing report of the wrong size")
        values = struct.unpack(f">{len(data) // 4}I", data)
        triples = tuple(tuple(values[i : i + 3]) for i in range(2, len(values), 3))
        return cls(values[0], values[1], triples)
