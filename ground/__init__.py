"""seuguard ground: the tools that make models flight-ready and talk to the spacecraft.

Imports `flight` for the formats (one definition of each), never the other way round.
"""

from ._package import PackageError, PackageReport, package_model, save_npz_deterministic

__all__ = ["PackageError", "PackageReport", "package_model", "save_npz_deterministic"]
