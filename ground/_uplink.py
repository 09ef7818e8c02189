"""The ground end of the uplink: a CFDP Class 2 source sending one patch file as space packets.

`PatchSender` wraps cfdp-py's source handler with the ground-side workarounds from DESIGN.md: a
Finished PDU that arrives again after the transfer completed (its ACK was lost) is acknowledged
again, so the flight's receiver stops retrying; a Finished PDU that arrives while every ACK of the
EOF was lost counts as that ACK (cfdp-py would refuse it and fault a delivered transfer); PDUs the
state machine raises on are counted, not fatal. `send_patch_udp` drives it over UDP loopback to `flight serve`, optionally through a
`LinkSim` in each direction.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cfdppy import IndicationConfig, LocalEntityConfig, PutRequest, RemoteEntityConfigTable
from cfdppy.defs import CfdpState
from cfdppy.handler.source import SourceHandler
from cfdppy.handler.source import TransactionStep as SourceStep
from spacepackets.cfdp import ConditionCode, CrcFlag, Direction, PduFactory, TransmissionMode
from spacepackets.cfdp.pdu import AckPdu, DirectiveType, FileDataPdu, FinishedPdu
from spacepackets.cfdp.pdu.ack import TransactionStatus
from spacepackets.cfdp.pdu.finished import DeliveryCode
from spacepackets.seqcount import SeqCountProvider

from flight.uplink import (
    FLIGHT_ENTITY,
    GROUND_ENTITY,
    CheckTimers,
    FaultLog,
    LinkTimers,
    MemoryFilestore,
    QuietUser,
    remote_config,
    unwrap_pdu,
    wrap_pdu,
)

from ._linksim import LinkSim

_FILE = Path("patch.bin")


@dataclass(frozen=True)
class UplinkResult:
    delivered: bool
    bytes_on_link: int
    retransmissions: int
    seconds: float
    condition: str


class PatchSender:
    def __init__(self, patch: bytes, transaction_seq: int, timers: LinkTimers = LinkTimers()):
        self.vfs = MemoryFilestore(len(patch))
        self.vfs.write_data(_FILE, patch, 0)
        self.user = QuietUser(self.vfs)
        self.faults = FaultLog()
        seq = SeqCountProvider(16)
        seq.count = transaction_seq & 0xFFFF
        self.source = SourceHandler(
            LocalEntityConfig(GROUND_ENTITY, IndicationConfig(), self.faults),
            self.user,
            RemoteEntityConfigTable([remote_config(FLIGHT_ENTITY, timers)]),
            CheckTimers(timers.check_interval_s),
            seq,
        )
        self.source.put_request(PutRequest(destination_id=FLIGHT_ENTITY, source_file=_FILE, dest_file=_FILE,
                                           trans_mode=TransmissionMode.ACKNOWLEDGED, closure_requested=True))
        self.size = len(patch)
        self._out: list[bytes] = []
        self._tm_seq = 0
        self._offsets: set[int] = set()
        self.retransmissions = 0
        self.bytes_sent = 0
        self.rejected = 0
        self.eof_acks_inferred = 0
        self.finished_condition: str | None = None
        self.delivered = False

    @property
    def done(self) -> bool:
        return self.finished_condition is not None

    def poll(self) -> list[bytes]:
        """Run the source's state machine (timers, next file data) and return packets to send."""
        self._run(None)
        out, self._out = self._out, []
        return out

    def accept(self, raw: bytes) -> None:
        pdu_raw = unwrap_pdu(raw)
        if isinstance(pdu_raw, str):
            self.rejected += 1
            return
        try:
            pdu = PduFactory.from_raw(pdu_raw)
        except Exception:  # CRC or format error from the link
            pdu = None
        if pdu is None or pdu.pdu_header.crc_flag != CrcFlag.WITH_CRC:
            self.rejected += 1
            return
        if isinstance(pdu, FinishedPdu) and (self.done or self.source.state == CfdpState.IDLE):
            conf = pdu.pdu_header.pdu_conf
            conf.direction = Direction.TOWARDS_RECEIVER
            self._send(AckPdu(conf, DirectiveType.FINISHED_PDU, pdu.condition_code, TransactionStatus.TERMINATED).pack())
            return
        if isinstance(pdu, FinishedPdu) and self.source.step == SourceStep.WAITING_FOR_EOF_ACK:
            # Every ACK of our EOF was lost, but a Finished PDU means the EOF arrived: cfdp-py would
            # refuse the Finished in this step and fault the transfer, so take it as the ACK first.
            conf = PduFactory.from_raw(pdu.pack()).pdu_header.pdu_conf
            conf.direction = Direction.TOWARDS_SENDER
            self._run(AckPdu(conf, DirectiveType.EOF_PDU, ConditionCode.NO_ERROR, TransactionStatus.ACTIVE))
            self.eof_acks_inferred += 1
        self._run(pdu)

    def _run(self, pdu) -> None:
        if self.source.state == CfdpState.IDLE and pdu is None:
            return
        try:
            # cfdp-py sends one file data PDU per call: loop until it has nothing more to say now.
            for _ in range(10_000):
                self.source.state_machine(pdu)
                pdu = None
                if not self.source.packets_ready:
                    break
                while (holder := self.source.get_next_packet()) is not None:
                    if isinstance(holder.pdu, FileDataPdu):
                        if holder.pdu.offset in self._offsets:
                            self.retransmissions += 1
                        self._offsets.add(holder.pdu.offset)
                    elif holder.pdu_directive_type in (DirectiveType.EOF_PDU, DirectiveType.METADATA_PDU):
                        key = -1 if holder.pdu_directive_type == DirectiveType.EOF_PDU else -2
                        if key in self._offsets:
                            self.retransmissions += 1
                        self._offsets.add(key)
                    self._send(holder.pdu.pack())
        except Exception:  # stale or unexpected PDU for this state: count it, keep going
            self.rejected += 1
            while self.source.get_next_packet() is not None:
                pass
        for params in self.user.finished:
            fin = params.finished_params
            self.finished_condition = ConditionCode(fin.condition_code).name
            self.delivered = (fin.condition_code == ConditionCode.NO_ERROR
                              and fin.delivery_code == DeliveryCode.DATA_COMPLETE)
        self.user.finished.clear()
        if not self.done and self.faults.faults and self.source.state == CfdpState.IDLE:
            self.finished_condition = self.faults.faults[-1].name

    def _send(self, pdu: bytes) -> None:
        packet = wrap_pdu(pdu, self._tm_seq)
        self._tm_seq = (self._tm_seq + 1) & 0x3FFF
        self.bytes_sent += len(packet)
        self._out.append(packet)


def send_patch_udp(patch: bytes, host: str, port: int, transaction_seq: int, timeout: float,
                   up: LinkSim | None = None, down: LinkSim | None = None, timers: LinkTimers = LinkTimers(),
                   progress: Callable[[int, int], None] | None = None) -> UplinkResult:
    """Send one patch to `flight serve` on host:port, waiting for the Finished PDU or the timeout.
    The flight replies to the address the packets came from."""
    sender = PatchSender(patch, transaction_seq, timers)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(0.002)
    start = time.monotonic()
    linger_until = None
    try:
        while time.monotonic() - start < timeout:
            now = time.monotonic()
            for packet in sender.poll():
                if up is None:
                    sock.sendto(packet, (host, port))
                else:
                    up.send(packet, now)
            if up is not None:
                for packet in up.receive(now):
                    sock.sendto(packet, (host, port))
            try:
                data, _ = sock.recvfrom(65535)
                if down is None:
                    sender.accept(data)
                else:
                    down.send(data, now)
            except (socket.timeout, TimeoutError, ConnectionRefusedError):
                pass
            if down is not None:
                for packet in down.receive(time.monotonic()):
                    sender.accept(packet)
            if progress is not None:
                progress(min(sender.source.progress or 0, sender.size), sender.size)
            if sender.done:
                # Stay a moment to answer a repeated Finished PDU (its ACK may have been lost).
                linger_until = linger_until or time.monotonic() + 2 * timers.ack_interval_s
                if time.monotonic() >= linger_until:
                    break
    finally:
        sock.close()
    return UplinkResult(sender.delivered, sender.bytes_sent, sender.retransmissions,
                        time.monotonic() - start, sender.finished_condition or "TIMEOUT")
