"""The uplink receiver: CFDP Class 2 file reception, patch verification, staging in the inactive slot.

Responsibility: turn the uplink's space packets (APID `UPLINK_APID`, 0x0C9) into a verified model
in the INACTIVE slot, or into a refusal with one named reason. It never touches the active slot and
never activates: activation (ACTIVATE_SLOT, auto_activate) is the model manager's.

Each frame the executive calls, in its comm slot:
  `accept_packet(raw)` for every packet the APID demultiplexer routes here,
  `step(budget_bytes)`  once: runs CFDP timers, then at most ~budget bytes of verification work,
  `outgoing()`          and sends what it returns (ACK, NAK, Finished: space packets, same APID).

Verification is resumable across frames (a generator, as the scrubber keeps a cursor) and runs in
this order, cheap and authenticating checks first: header and Ed25519 signature, spacecraft id,
sequence above the highest accepted, body sha256, bounded decompression, apply to the active slot's
folder, result sha256 (on a mismatch the base sha256 is checked to name the reason: WRONG_BASE or
RESULT_MISMATCH; on a match the signed result covers every byte, so the base needs no pass), then, on a folder built beside the inactive slot, every CRC
(`open_model`) and the golden vectors on a replica under the flight configuration (three stages;
`self_test` may be replaced, e.g. by the model manager's own boot stages). Only then is the
sequence recorded (durably) and the folder swapped into the inactive slot (atomically).

cfdp-py 0.7.0 workarounds (DESIGN.md, Uplink): repeated EOFs are acknowledged here (a lost EOF ACK
would make the ground fault a good transfer), except while cfdp-py still waits for one (a Metadata
PDU that arrives after the EOF sends it back to receiving file data, having forgotten the EOF: the
receiver then gives it the EOF again); a lost Finished ACK abandons instead of retrying
forever, and is given up at once when a new transfer begins (cfdp-py would swallow it); PDUs the
state machine raises on are caught and counted; PDUs without their CRC-16 are
dropped; the file's sha256 and signature are checked whatever CFDP says.

Events go to `on_event(name, text)`; names are listed in `EVENTS`.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cfdppy import CfdpState, IndicationConfig, LocalEntityConfig, RemoteEntityConfigTable
from cfdppy.handler.dest import DestHandler
from cfdppy.handler.dest import TransactionStep as DestStep
from spacepackets.cfdp import ConditionCode, CrcFlag, Direction, PduFactory, TransactionId
from spacepackets.cfdp.pdu import AckPdu, DirectiveType, EofPdu
from spacepackets.cfdp.pdu.ack import TransactionStatus
from spacepackets.cfdp.pdu.finished import DeliveryCode

from .._errors import ManifestError, ModelCorrupted
from ..engine._replica import Replica, check_golden
from ..storage._model import open_model
from ..storage._store import SlotStore
from ._durable import fsync_dir, remove_tree, write_file
from ._patch import (
    HEADER_LEN,
    MAX_CONTENT_BYTES,
    MAX_PATCH_BYTES,
    SIGNATURE_LEN,
    PatchKind,
    PatchRejected,
    RejectReason,
    apply_files,
    decode_body,
    decode_header,
    digest_chunks,
    folder_files,
)
from ._sequence import SequenceRecord
from ._stage import commit_stage, recover_slots, staging_dir
from ._transport import (
    CheckTimers,
    FLIGHT_ENTITY,
    GROUND_ENTITY,
    FaultLog,
    LinkTimers,
    MemoryFilestore,
    QuietUser,
    remote_config,
    unwrap_pdu,
    wrap_pdu,
)

QUARANTINE = "quarantine"
QUARANTINE_KEEP = 8
_BLOCK = 64 * 1024

EVENTS = {
    "UPLINK_FILE_RECEIVED_INF": "a CFDP transfer completed with a valid file checksum; verification starts",
    "UPLINK_TRANSFER_FAILED_LOW": "a CFDP transfer ended cancelled or abandoned (the ground retries)",
    "UPLINK_PATCH_REFUSED_ERR": "a patch failed a check: reason and detail; quarantined, nothing staged",
    "UPLINK_PATCH_STAGED_INF": "a verified patch's result is in the inactive slot, ready to activate",
    "UPLINK_STORE_RECOVERED_INF": "an interrupted slot swap was undone or finished at start",
}


class Verification(enum.Enum):
    IDLE = 0  # nothing received yet
    VERIFYING = 1
    STAGED = 2  # the last patch verified and sits in `staged_slot`
    REFUSED = 3  # the last patch was refused (`last_refusal`)


@dataclass(frozen=True)
class UplinkStatistics:
    packets: int  # space packets on the uplink APID
    packets_rejected: int  # framing wrong (length, APID, version)
    pdus: int  # PDUs handed to CFDP
    pdus_corrupt: int  # CRC-16 wrong or missing, unparseable, or refused by the CFDP state machine
    bytes_received: int
    files: int  # complete, checksum-valid files received
    transfers_failed: int
    naks_sent: int
    eof_reacks: int  # repeated EOFs acknowledged by the receiver itself (workaround)
    finished_abandoned: int  # waits for a Finished ACK dropped because a new transfer began
    refusals: int
    last_refusal: str  # RejectReason name, '' if none
    staged_slot: str  # 'A' | 'B' | '' (none)
    verification: str  # Verification name
    highest_sequence: int  # -1 while the record is corrupt
    verify_bytes: int  # bytes of verification work done


def default_self_test(directory: Path) -> Iterator[int]:
    """Every CRC (open_model), then a replica, then the golden vectors under the flight
    configuration: three stages, each yielding its cost, as the model manager's boot does."""
    try:
        model = open_model(directory)
    except (ModelCorrupted, ManifestError) as exc:
        raise PatchRejected(RejectReason.MODEL_INVALID, str(exc)) from None
    size = sum(t.nbytes for t in model.manifest.tensors)
    yield size
    try:
        replica = Replica(0, model)
        yield size
        check_golden(replica)
    except ModelCorrupted as exc:
        raise PatchRejected(RejectReason.GOLDEN_MISMATCH, str(exc)) from None
    yield size


class UplinkReceiver:
    def __init__(
        self,
        store: SlotStore,
        public_key: Ed25519PublicKey | bytes,
        spacecraft: int,
        on_event: Callable[[str, str], None] | None = None,
        *,
        timers: LinkTimers = LinkTimers(),
        max_patch_bytes: int = MAX_PATCH_BYTES,
        max_content_bytes: int = MAX_CONTENT_BYTES,
        self_test: Callable[[Path], Iterator[int] | None] = default_self_test,
    ):
        if store.root is None:
            raise ValueError("the uplink needs a slot store folder, not a single model")
        self.store = store
        self.root = Path(store.root)
        self._key = public_key if isinstance(public_key, Ed25519PublicKey) else Ed25519PublicKey.from_public_bytes(public_key)
        self.spacecraft = spacecraft
        self._on_event = on_event if on_event is not None else (lambda name, text: None)
        self.max_patch_bytes = max_patch_bytes
        self.max_content_bytes = max_content_bytes
        self._self_test = self_test
        self.sequence = SequenceRecord(self.root)
        self._vfs = MemoryFilestore(max_patch_bytes)
        self._user = QuietUser(self._vfs)
        self._faults = FaultLog()
        self._dest = DestHandler(
            LocalEntityConfig(FLIGHT_ENTITY, IndicationConfig(), self._faults),
            self._user,
            RemoteEntityConfigTable([remote_config(GROUND_ENTITY, timers)]),
            CheckTimers(timers.check_interval_s),
        )
        self._out: list[bytes] = []
        self._tm_seq = 0
        self._eof_seen: set[TransactionId] = set()
        self._last_eof: bytes | None = None
        self._done: deque[TransactionId] = deque(maxlen=64)  # finished transactions: stale PDUs dropped
        self._finished_seen = 0
        self._pending: deque[bytes] = deque(maxlen=2)
        self._job: Iterator[int] | None = None
        self._job_raw: bytes = b""
        self._state = Verification.IDLE
        self._staged_slot = ""
        self._n = dict(packets=0, packets_rejected=0, pdus=0, pdus_corrupt=0, bytes_received=0, files=0,
                       transfers_failed=0, naks_sent=0, eof_reacks=0, finished_abandoned=0, refusals=0,
                       verify_bytes=0)
        self._last_refusal = ""
        self._highest = 0
        try:
            self._read_highest()
        except PatchRejected:
            pass  # reported as -1 in statistics; every patch is refused until it is repaired
        for note in recover_slots(self.root):
            self._event("UPLINK_STORE_RECOVERED_INF", note)

    # --- the per-frame interface --------------------------------------------------------------

    def accept_packet(self, raw: bytes) -> None:
        """Feed one space packet from the uplink APID; never raises on bad bytes."""
        pdu_raw = unwrap_pdu(bytes(raw))
        if isinstance(pdu_raw, str):
            self._n["packets_rejected"] += 1
            return
        self._n["packets"] += 1
        try:
            pdu = PduFactory.from_raw(pdu_raw)
        except Exception:  # spacepackets raises several types (CRC, length, enum values)
            pdu = None
        if pdu is None or pdu.pdu_header.crc_flag != CrcFlag.WITH_CRC:
            self._n["pdus_corrupt"] += 1
            return
        self._n["pdus"] += 1
        self._n["bytes_received"] += len(pdu_raw)
        tid = TransactionId(pdu.source_entity_id, pdu.transaction_seq_num)
        current = self._dest.transaction_id if self._dest.state != CfdpState.IDLE else None
        same = current is not None and tid == current  # (TransactionId == None raises)
        if (current is not None and not same and current in self._done
                and self._dest.step == DestStep.WAITING_FOR_FINISHED_ACK):
            # A new transfer while the last one waits only for the ACK of its Finished PDU: that
            # file is already delivered, so stop waiting (cfdp-py would swallow the new one).
            self._dest.reset()
            self._n["finished_abandoned"] += 1
            current, same = None, False
        if isinstance(pdu, EofPdu):
            if same and not self._wants_eof(tid):
                self._reacknowledge(pdu, active=True)  # a repeat: its first ACK was lost
                return
            if not same and tid in self._done:
                self._reacknowledge(pdu, active=False)  # a repeat after the transfer finished
                return
            self._eof_seen.add(tid)
            self._last_eof = pdu_raw  # bytes: cfdp-py rewrites the direction of PDUs it handles
        elif not same and tid in self._done:
            return  # a late duplicate of a finished transfer: starting a new one from it would block
        waiting_for_metadata = self._dest.step == DestStep.WAITING_FOR_METADATA
        self._run_cfdp(pdu)
        if (waiting_for_metadata and self._dest.step == DestStep.RECEIVING_FILE_DATA and tid in self._eof_seen
                and self._last_eof is not None and self._dest.transaction_id is not None
                and self._dest.transaction_id == tid):
            # cfdp-py forgot the EOF it acknowledged before the late Metadata PDU: give it again.
            self._run_cfdp(PduFactory.from_raw(self._last_eof))

    def _wants_eof(self, tid: TransactionId) -> bool:
        """Whether cfdp-py still needs an EOF for `tid` (it goes back to receiving file data when
        a lost Metadata PDU arrives after the EOF, and then waits for an EOF again)."""
        return self._dest.transaction_id is not None and self._dest.transaction_id == tid and self._dest.step in (
            DestStep.RECEIVING_FILE_DATA, DestStep.RECV_FILE_DATA_WITH_CHECK_LIMIT_HANDLING, DestStep.WAITING_FOR_METADATA)

    def receive_file(self, raw: bytes) -> None:
        """Queue one complete patch file for verification (what a finished CFDP transfer does;
        also for a patch that arrived another way). Work happens in `step`."""
        self._n["files"] += 1
        self._pending.append(bytes(raw))

    def outgoing(self) -> list[bytes]:
        """Packets to send to the ground (ACK, NAK, Finished), oldest first; clears the queue."""
        out, self._out = self._out, []
        return out

    def step(self, budget_bytes: int = 256 * 1024) -> int:
        """CFDP timers, then about `budget_bytes` of verification (at least one unit of progress).
        Returns the bytes of work done."""
        self._run_cfdp(None)
        if self._job is None and self._pending:
            self._job_raw = self._pending.popleft()
            self._job = self._verify(self._job_raw)
            self._state = Verification.VERIFYING
        spent = 0
        while self._job is not None and (spent == 0 or spent < budget_bytes):
            try:
                spent += next(self._job)
            except StopIteration:
                self._job = None
            except PatchRejected as exc:
                self._refuse(exc)
            except OSError as exc:
                self._refuse(PatchRejected(RejectReason.STORAGE_ERROR, f"{exc.__class__.__name__}: {exc.strerror}"))
        self._n["verify_bytes"] += spent
        return spent

    # --- state ---------------------------------------------------------------------------------

    @property
    def staged_slot(self) -> str | None:
        return self._staged_slot or None

    @property
    def ready_to_activate(self) -> bool:
        """A verified model waits in the inactive slot."""
        return (self._state is Verification.STAGED and self._staged_slot != ""
                and self._staged_slot != self.store.active())

    @property
    def busy(self) -> bool:
        return self._job is not None or bool(self._pending) or self._dest.state != CfdpState.IDLE

    def statistics(self) -> UplinkStatistics:
        return UplinkStatistics(**self._n, last_refusal=self._last_refusal, staged_slot=self._staged_slot,
                                verification=self._state.name, highest_sequence=self._highest)

    def _read_highest(self) -> int:
        """The record from storage (each verification reads it again); -1 while it is corrupt."""
        try:
            self._highest = self.sequence.highest()
        except PatchRejected:
            self._highest = -1
            raise
        return self._highest

    # --- CFDP ----------------------------------------------------------------------------------

    def _run_cfdp(self, pdu) -> None:
        try:
            self._dest.state_machine(pdu)
        except Exception:  # cfdp-py 0.7.0 raises on PDUs it cannot place (stale, wrong state)
            if pdu is not None:
                self._n["pdus_corrupt"] += 1
        self._drain()
        self._collect_finished()

    def _drain(self) -> None:
        while True:
            holder = self._dest.get_next_packet()
            if holder is None:
                return
            if holder.pdu_directive_type == DirectiveType.NAK_PDU:
                self._n["naks_sent"] += 1
            self._send(holder.pdu.pack())

    def _send(self, pdu: bytes) -> None:
        self._out.append(wrap_pdu(pdu, self._tm_seq, telecommand=False))
        self._tm_seq = (self._tm_seq + 1) & 0x3FFF

    def _reacknowledge(self, eof: EofPdu, active: bool) -> None:
        conf = eof.pdu_header.pdu_conf
        conf.direction = Direction.TOWARDS_SENDER
        status = TransactionStatus.ACTIVE if active else TransactionStatus.TERMINATED
        self._send(AckPdu(conf, DirectiveType.EOF_PDU, eof.condition_code, status).pack())
        self._n["eof_reacks"] += 1

    def _collect_finished(self) -> None:
        while self._finished_seen < len(self._user.finished):
            params = self._user.finished[self._finished_seen]
            self._finished_seen += 1
            tid = params.transaction_id
            self._done.append(tid)
            self._eof_seen.discard(tid)
            fin = params.finished_params
            names = list(self._vfs.files)
            overflowed = bool(self._vfs.overflowed)
            data = bytes(self._vfs.files[names[0]]) if len(names) == 1 else None
            self._vfs.files.clear()
            self._vfs.overflowed.clear()
            if overflowed:
                self._n["files"] += 1
                self._refuse(PatchRejected(RejectReason.OVERSIZED, f"transfer above {self.max_patch_bytes} bytes"), b"")
            elif (fin.condition_code == ConditionCode.NO_ERROR and fin.delivery_code == DeliveryCode.DATA_COMPLETE
                  and data is not None):
                self.receive_file(data)
                self._event("UPLINK_FILE_RECEIVED_INF", f"transaction {tid.seq_num.value}: {len(data)} bytes")
            else:
                self._n["transfers_failed"] += 1
                self._event("UPLINK_TRANSFER_FAILED_LOW",
                            f"transaction {tid.seq_num.value}: {ConditionCode(fin.condition_code).name}")

    # --- verification ---------------------------------------------------------------------------

    def _verify(self, raw: bytes) -> Iterator[int]:
        header = decode_header(raw, self._key, self.max_patch_bytes, self.max_content_bytes)
        if isinstance(header, PatchRejected):
            raise header
        yield HEADER_LEN + SIGNATURE_LEN
        if header.spacecraft != self.spacecraft:
            raise PatchRejected(RejectReason.WRONG_SPACECRAFT,
                                f"signed for spacecraft {header.spacecraft}, this is {self.spacecraft}")
        highest = self._read_highest()
        if header.sequence <= highest:
            raise PatchRejected(RejectReason.REPLAYED_SEQUENCE, f"sequence {header.sequence}, highest accepted {highest}")
        body = memoryview(raw)[HEADER_LEN + SIGNATURE_LEN :]
        h = hashlib.sha256()
        for i in range(0, len(body), _BLOCK):
            h.update(body[i : i + _BLOCK])
            yield min(_BLOCK, len(body) - i)
        if h.digest() != header.patch_sha256:
            raise PatchRejected(RejectReason.BODY_MISMATCH, "body sha256 differs from the signed patch sha256")
        patch = decode_body(header, bytes(body), len(raw))
        if isinstance(patch, PatchRejected):
            raise patch
        yield header.content_bytes
        active = self.store.active()
        target = "B" if active == "A" else "A"
        base: dict[str, bytes] = {}
        if header.kind is PatchKind.DELTA:
            base_dir = self.store.slot_dir(active)
            base = folder_files(base_dir) if base_dir is not None else {}
        try:
            result = apply_files(base, patch.files)
        except PatchRejected:
            result = None
        yield header.content_bytes
        digest = (yield from self._hash(result)) if result is not None else None
        if digest != header.result_sha256:
            # The signed result digest covers every byte staged, so the base is hashed only to name
            # the refusal: a wrong base, or a patch whose result is not what was signed.
            if header.kind is PatchKind.DELTA and (yield from self._hash(base)) != header.base_sha256:
                raise PatchRejected(RejectReason.WRONG_BASE, f"active slot {active} is not the patch's base")
            raise PatchRejected(RejectReason.RESULT_MISMATCH, "applied result's sha256 differs from the signed one")
        stage = staging_dir(self.root, target)
        remove_tree(stage)
        os.mkdir(stage)
        for name, data in sorted(result.items()):
            write_file(stage / name, data)
            yield len(data)
        fsync_dir(stage)
        stages = self._self_test(stage)
        if stages is not None:
            yield from stages
        if self.store.active() == target:
            raise PatchRejected(RejectReason.STORAGE_ERROR, f"slot {target} became active during verification")
        self.sequence.accept(header.sequence)
        self._highest = header.sequence
        commit_stage(self.root, target)
        self._staged_slot = target
        self._state = Verification.STAGED
        self._event("UPLINK_PATCH_STAGED_INF",
                    f"sequence {header.sequence} ({header.kind.name.lower()}, {len(raw)} bytes) staged in slot {target}")

    def _hash(self, files: dict[str, bytes]):
        h = hashlib.sha256()
        for chunk in digest_chunks(files, _BLOCK):
            h.update(chunk)
            yield len(chunk)
        return h.digest()

    def _refuse(self, exc: PatchRejected, raw: bytes | None = None) -> None:
        """Count, quarantine and report one refusal: of the patch being verified (`raw` None), or
        of a file refused on arrival (which leaves a verification in progress alone)."""
        if raw is None:
            raw = self._job_raw
            self._job = None
            self._job_raw = b""
            self._state = Verification.REFUSED
            for slot in ("A", "B"):
                try:
                    remove_tree(staging_dir(self.root, slot))
                except OSError:
                    pass
        self._n["refusals"] += 1
        self._last_refusal = exc.reason.name
        try:
            self._quarantine(raw, exc)
        except OSError:
            pass  # a full disk must not stop the refusal from being reported
        self._event("UPLINK_PATCH_REFUSED_ERR", str(exc))

    def _quarantine(self, raw: bytes, exc: PatchRejected) -> None:
        folder = self.root / QUARANTINE
        if not folder.is_dir():
            os.mkdir(folder)
        kept = sorted(folder.iterdir(), key=lambda p: p.name)
        for old in kept[: max(0, len(kept) - (QUARANTINE_KEEP - 1) * 2)]:
            os.unlink(old)
        stem = f"{self._n['refusals']:06d}-{exc.reason.name}"
        write_file(folder / f"{stem}.patch", raw)
        write_file(folder / f"{stem}.reason", (str(exc) + "\n").encode())
        fsync_dir(folder)

    def _event(self, name: str, text: str) -> None:
        self._on_event(name, text)
