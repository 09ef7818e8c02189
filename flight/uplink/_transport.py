"""CFDP over CCSDS Space Packets: the framing and settings both ends of the uplink share.

- Every CFDP PDU travels in one CCSDS Space Packet (version 0, telecommand, no secondary header,
  unsegmented) on its own APID, `UPLINK_APID` = 0x0C9, beside telecommands' 0x0C8, so the APID
  demultiplexer routes file transfer to the uplink receiver and commands to commanding. Replies
  (ACK, NAK, Finished) go back on the same APID as telemetry packets.
- Class 2 (acknowledged, NAK retransmission), CRC-32C file checksum, and a CRC-16 on every PDU
  (`crc_on_transmission`): with per-PDU CRCs off, cfdp-py 0.7.0 can report success on a corrupted
  file (DESIGN.md, Uplink).
- Files live in memory (`MemoryFilestore`), bounded: a patch names no path onboard, and a
  transfer larger than the limit is cut off rather than filling storage.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from cfdppy import CfdpUserBase, RemoteEntityConfig, VirtualFilestore
from cfdppy.mib import CheckTimerProvider, DefaultFaultHandlerBase, EntityType
from spacepackets.cfdp import ChecksumType, ConditionCode, FaultHandlerCode, TransmissionMode
from spacepackets.countdown import Countdown
from spacepackets.util import ByteFieldU16

from .._crc import crc32c

UPLINK_APID = 0x0C9
GROUND_ENTITY = ByteFieldU16(1)
FLIGHT_ENTITY = ByteFieldU16(2)
MAX_PACKET_LEN = 1024  # bytes of one PDU (file data segments are derived from it)
_PRIMARY = struct.Struct(">HHH")


def wrap_pdu(pdu: bytes, seq_count: int, telecommand: bool = True) -> bytes:
    """One CCSDS Space Packet carrying one PDU."""
    packet_id = (0x1000 if telecommand else 0) | UPLINK_APID
    return _PRIMARY.pack(packet_id, 0xC000 | (seq_count & 0x3FFF), len(pdu) - 1) + bytes(pdu)


def unwrap_pdu(raw: bytes) -> bytes | str:
    """The PDU inside a space packet, or a one-line reason it is not one of ours."""
    if len(raw) < 7:
        return f"{len(raw)} bytes, shorter than a packet"
    packet_id, _, length = _PRIMARY.unpack_from(raw)
    if packet_id >> 13 != 0:
        return f"CCSDS version {packet_id >> 13}"
    if packet_id & 0x07FF != UPLINK_APID:
        return f"APID 0x{packet_id & 0x7FF:03x}, not the uplink's 0x{UPLINK_APID:03x}"
    if len(raw) != 6 + length + 1:
        return f"{len(raw)} bytes, length field says {6 + length + 1}"
    return bytes(raw[6:])


@dataclass(frozen=True)
class LinkTimers:
    """CFDP timer settings (wall-clock seconds: cfdp-py 0.7.0 times with `time.time`)."""

    ack_interval_s: float = 1.0  # positive ACK procedure (EOF on ground, Finished onboard)
    ack_limit: int = 10  # at 10% loss each way a round trip fails 19% of the time: 4 tries fault 0.13% of good transfers
    nak_interval_s: float = 1.0  # deferred lost segment procedure
    nak_limit: int = 30
    check_interval_s: float = 1.0


def remote_config(entity: ByteFieldU16, timers: LinkTimers) -> RemoteEntityConfig:
    return RemoteEntityConfig(
        entity_id=entity,
        max_file_segment_len=None,
        max_packet_len=MAX_PACKET_LEN,
        closure_requested=True,
        crc_on_transmission=True,
        default_transmission_mode=TransmissionMode.ACKNOWLEDGED,
        crc_type=ChecksumType.CRC_32C,
        positive_ack_timer_interval_seconds=timers.ack_interval_s,
        positive_ack_timer_expiration_limit=timers.ack_limit,
        nak_timer_interval_seconds=timers.nak_interval_s,
        nak_timer_expiration_limit=timers.nak_limit,
        check_limit=2,
        immediate_nak_mode=False,  # one NAK per gap list at EOF, then per NAK timer: no duplicate resends
    )


class CheckTimers(CheckTimerProvider):
    def __init__(self, seconds: float):
        self.seconds = seconds

    def provide_check_timer(self, local_entity_id, remote_entity_id, entity_type: EntityType) -> Countdown:
        return Countdown.from_seconds(self.seconds)


class FaultLog(DefaultFaultHandlerBase):
    """Records every fault; a checksum failure cancels, and a lost final ACK abandons (cfdp-py
    0.7.0 would otherwise retry the Finished PDU forever)."""

    def __init__(self):
        super().__init__()
        self.set_handler(ConditionCode.FILE_CHECKSUM_FAILURE, FaultHandlerCode.NOTICE_OF_CANCELLATION)
        self.set_handler(ConditionCode.POSITIVE_ACK_LIMIT_REACHED, FaultHandlerCode.ABANDON_TRANSACTION)
        self.faults: list[ConditionCode] = []

    def _log(self, transaction_id, cond, progress) -> None:
        self.faults.append(ConditionCode(cond))

    notice_of_suspension_cb = notice_of_cancellation_cb = abandoned_cb = ignore_cb = _log


class MemoryFilestore(VirtualFilestore):
    """Files held in memory, each at most `max_bytes` (writes beyond it are dropped and flagged)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.files: dict[str, bytearray] = {}
        self.overflowed: set[str] = set()

    def read_data(self, file: Path, offset: int | None, read_len: int | None = None) -> bytes:
        data = self.files[str(file)]
        start = offset or 0
        return bytes(data[start : None if read_len is None else start + read_len])

    def read_from_opened_file(self, bytes_io, offset: int, read_len: int) -> bytes:
        bytes_io.seek(offset)
        return bytes_io.read(read_len)

    def is_directory(self, path: Path) -> bool:
        return False

    def filename_from_full_path(self, path: Path) -> str | None:
        return Path(path).name

    def file_exists(self, path: Path) -> bool:
        return str(path) in self.files

    def truncate_file(self, file: Path) -> None:
        self.files[str(file)] = bytearray()
        self.overflowed.discard(str(file))

    def file_size(self, file: Path) -> int:
        return len(self.files[str(file)])

    def write_data(self, file: Path, data: bytes, offset: int | None) -> None:
        buf = self.files.setdefault(str(file), bytearray())
        start = offset or 0
        end = start + len(data)
        if end > self.max_bytes:
            self.overflowed.add(str(file))
            return
        if len(buf) < end:
            buf.extend(b"\0" * (end - len(buf)))
        buf[start:end] = data

    def create_file(self, file: Path):
        self.truncate_file(file)

    def delete_file(self, file: Path):
        self.files.pop(str(file), None)

    def rename_file(self, _old_file: Path, _new_file: Path):
        raise PermissionError("not supported")

    replace_file = rename_file

    def create_directory(self, _dir_name: Path):
        raise PermissionError("not supported")

    def remove_directory(self, _dir_name: Path, recursive: bool = False):
        raise PermissionError("not supported")

    def list_directory(self, _dir_name: Path, _file_name: Path, _recursive: bool = False):
        raise PermissionError("not supported")

    def calculate_checksum(self, checksum_type: ChecksumType, file_path: Path, size_to_verify: int,
                           segment_len: int = 4096) -> bytes:
        if checksum_type != ChecksumType.CRC_32C:
            raise PermissionError(f"checksum {checksum_type!r} not supported")
        data = self.files.get(str(file_path), bytearray())
        return struct.pack("!I", crc32c(bytes(data[:size_to_verify])))

    def verify_checksum(self, checksum: bytes, checksum_type: ChecksumType, file_path: Path,
                        size_to_verify: int, segment_len: int = 4096) -> bool:
        return self.calculate_checksum(checksum_type, file_path, size_to_verify) == checksum


class QuietUser(CfdpUserBase):
    """A CFDP user that records what the handler tells it instead of printing it."""

    def __init__(self, vfs: VirtualFilestore):
        super().__init__(vfs)
        self.finished: list = []  # TransactionFinishedParams, in order
        self.faults: list = []

    def transaction_indication(self, params) -> None: ...
    def eof_sent_indication(self, transaction_id) -> None: ...
    def transaction_finished_indication(self, params) -> None:
        self.finished.append(params)
    def metadata_recv_indication(self, params) -> None: ...
    def file_segment_recv_indication(self, params) -> None: ...
    def report_indication(self, transaction_id, status_report) -> None: ...
    def suspended_indication(self, transaction_id, cond_code) -> None: ...
    def resumed_indication(self, transaction_id, progress) -> None: ...
    def fault_indication(self, transaction_id, cond_code, progress) -> None:
        self.faults.append(cond_code)
    def abandoned_indication(self, transaction_id, cond_code, progress) -> None:
        self.faults.append(cond_code)
    def eof_recv_indication(self, transaction_id) -> None: ...
