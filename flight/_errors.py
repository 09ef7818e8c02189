"""Named errors: each says what happened and whose fault it was.

- `ModelCorrupted`: a model file, manifest or weight image disagrees with its references (an upset
  or a bad file). The message names the file, tensor and chunk.
- `ManifestError`: a manifest or configuration that is malformed (the ground sent something wrong).
- `InputRejected`: an input frame the executive will not compute on (wrong shape, dtype, NaN).
- `ExecutiveInternalError`: should never happen; a bug in seuguard.
"""

from __future__ import annotations


class SeuguardError(Exception):
    """Base of every error seuguard reports as one line rather than a traceback."""


class ModelCorrupted(SeuguardError):
    """A model file, its manifest or a weight image disagrees with the ground references."""


class ManifestError(SeuguardError):
    """A manifest or configuration is malformed: the message names the key and the reason."""


class InputRejected(SeuguardError):
    """An input frame fails its spec (shape, dtype, NaN or range): no replica runs on it."""


class ExecutiveInternalError(SeuguardError):
    """Should never happen: an invariant of seuguard itself is broken."""
