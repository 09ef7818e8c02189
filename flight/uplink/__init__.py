"""Uplink: model patches received over CFDP, verified, and staged in the inactive slot.

The patch format (`_patch`, shared with `ground`), the CFDP-over-space-packet framing (`_transport`),
the highest-accepted sequence record (`_sequence`), the atomic slot swap (`_stage`) and the
`UplinkReceiver` component (`_receiver`). Imports storage, the engine's replica (for the golden
self-test), comms-level formats; never the executive.
"""

from ._patch import (
    FORMAT_VERSION,
    MAX_CONTENT_BYTES,
    MAX_PATCH_BYTES,
    FileEntry,
    Patch,
    PatchHeader,
    PatchKind,
    PatchRejected,
    RejectReason,
    TensorDelta,
    apply_files,
    decode_header,
    decode_patch,
    encode_content,
    files_digest,
    folder_files,
    model_digest,
    sign_patch,
)
from ._receiver import EVENTS, UplinkReceiver, UplinkStatistics, Verification, default_self_test
from ._sequence import SequenceRecord
from ._stage import recover_slots, stage_slot
from ._transport import (
    FLIGHT_ENTITY,
    GROUND_ENTITY,
    UPLINK_APID,
    LinkTimers,
    MemoryFilestore,
    QuietUser,
    FaultLog,
    CheckTimers,
    remote_config,
    unwrap_pdu,
    wrap_pdu,
)

__all__ = [
    "FORMAT_VERSION", "MAX_CONTENT_BYTES", "MAX_PATCH_BYTES", "FileEntry", "Patch", "PatchHeader", "PatchKind",
    "PatchRejected", "RejectReason", "TensorDelta", "apply_files", "decode_header", "decode_patch",
    "encode_content", "files_digest", "folder_files", "model_digest", "sign_patch",
    "EVENTS", "UplinkReceiver", "UplinkStatistics", "Verification", "default_self_test",
    "SequenceRecord", "recover_slots", "stage_slot",
    "FLIGHT_ENTITY", "GROUND_ENTITY", "UPLINK_APID", "LinkTimers", "MemoryFilestore", "QuietUser", "FaultLog",
    "CheckTimers", "remote_config", "unwrap_pdu", "wrap_pdu",
]
