"""seuguard flight: everything that runs onboard.

Never imports `ground`, `fault_injection` or `sim` (a test enforces it): the world reaches the
flight through `World`, and observers through `Instrument` hooks.
"""

from .executive._boot import BootReport, FlightStack, boot
from .executive._config import TASKS, FlightConfig, Schedule, config_from_dict, load_config, parse_config
from .executive._events import Event, EventId, Severity
from .executive._executive import CycleResult, Executive
from .executive._housekeeping import COUNTER_CELLS, flip_counter_bit
from .executive._modes import Mode
from .comms._packets import (
    APID,
    COMMANDS,
    Command,
    CommandCode,
    Housekeeping,
    PacketError,
    Rejection,
    RejectReason,
    TimingReport,
    TmPacket,
    TmType,
    decode_command,
    decode_event,
    decode_tm,
    decode_verification,
    encode_command,
)
from .comms._recording import Recorder, RecordingError, read_recording
from ._replay import replay
from .storage import SLOTS, AtomicWriteError, SlotStore, atomic_write_bytes, chunk_crcs, chunk_spans, replace_folder
from ._crc import CRC16_C_EXTENSION, CRC32C_HARDWARE, crc16_ccitt_false, crc32, crc32c
from ._errors import (
    ExecutiveInternalError,
    InputRejected,
    ManifestError,
    ModelCorrupted,
    SeuguardError,
)
from ._fly import FlightSummary, fly, make_executive
from ._instruments import Instrument
from .storage._manifest import (
    DEFAULT_CHUNK_SIZE,
    GoldenRecord,
    IOSpec,
    Manifest,
    TensorRecord,
    dump_manifest,
    load_manifest,
    manifest_from_dict,
)
from .engine._replica import LivenessReport, Replica, check_golden, prove_liveness
from .engine._scrubber import ChunkRepair, Scrubber, ScrubReport, ScrubStatistics
from .engine._session import FLIGHT_SESSION_CONFIG, flight_session_options
from .storage._model import StoredModel, golden_key, golden_outputs_digest, open_model, sha256_file
from .executive._digest import TelemetryDigest
from .engine._tmr import (
    EngineStatistics,
    InferenceOutcome,
    InferenceResult,
    Redundancy,
    Scheduling,
    TMREngine,
)
from .engine._validate import validate_inputs
from .engine._voter import VoteOutcome, VoteResult, vote
from .engine._weights import BitUndo, Chunk, ImageLayout, WeightImage, majority_bytes, majority_repair
from ._world import World, load_world

__all__ = [
    "BootReport", "FlightStack", "boot",
    "CRC16_C_EXTENSION", "CRC32C_HARDWARE", "crc16_ccitt_false", "crc32", "crc32c",
    "ExecutiveInternalError", "InputRejected", "ManifestError", "ModelCorrupted", "SeuguardError",
    "TASKS", "FlightConfig", "Schedule", "config_from_dict", "load_config", "parse_config",
    "Event", "EventId", "Severity",
    "CycleResult", "Executive", "Mode", "COUNTER_CELLS", "flip_counter_bit",
    "APID", "COMMANDS", "Command", "CommandCode", "Housekeeping", "PacketError", "Rejection",
    "RejectReason", "TimingReport", "TmPacket", "TmType", "decode_command", "decode_event", "decode_tm",
    "decode_verification", "encode_command",
    "Recorder", "RecordingError", "read_recording", "replay",
    "SLOTS", "SlotStore", "AtomicWriteError", "atomic_write_bytes", "replace_folder", "chunk_crcs", "chunk_spans",
    "FlightSummary", "fly", "make_executive",
    "Instrument",
    "DEFAULT_CHUNK_SIZE", "GoldenRecord", "IOSpec", "Manifest", "TensorRecord", "dump_manifest",
    "load_manifest", "manifest_from_dict",
    "LivenessReport", "Replica", "check_golden", "prove_liveness",
    "ChunkRepair", "Scrubber", "ScrubReport", "ScrubStatistics",
    "FLIGHT_SESSION_CONFIG", "flight_session_options",
    "StoredModel", "golden_key", "golden_outputs_digest", "open_model", "sha256_file",
    "TelemetryDigest",
    "EngineStatistics", "InferenceOutcome", "InferenceResult", "Redundancy", "Scheduling",
    "TMREngine", "validate_inputs",
    "VoteOutcome", "VoteResult", "vote",
    "BitUndo", "Chunk", "ImageLayout", "WeightImage", "majority_bytes", "majority_repair",
    "World", "load_world",
]
