"""Storage: model folders on onboard storage and the A/B store that holds them.

The manifest format (with the per-chunk CRC rule, `chunk_spans`/`chunk_crcs`, written once), one
stored model read and checked against it, the slot store with its atomic `active` record, and the
atomic file and folder writes they and the uplink use. Imports neither the engine, the executive
nor comms.
"""

from ._atomic import AtomicWriteError, atomic_write_bytes, replace_folder
from ._manifest import chunk_crcs, chunk_spans
from ._store import SLOTS, SlotStore

__all__ = ["AtomicWriteError", "atomic_write_bytes", "replace_folder", "chunk_crcs", "chunk_spans", "SLOTS",
           "SlotStore"]
