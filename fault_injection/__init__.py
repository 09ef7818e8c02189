"""seuguard fault injection: flip bits the way radiation does and measure what gets through.

Reaches inside the flight only through `flight.Instrument` hooks. This package holds the fault
models that the campaigns (a later issue) build on.
"""

from ._faults import BitFlip, FlipAtCycle, StuckAt

__all__ = ["BitFlip", "FlipAtCycle", "StuckAt"]
