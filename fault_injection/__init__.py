"""seuguard fault injection: flip bits the way radiation does and measure what gets through.

Reaches inside the flight only through `flight.Instrument` hooks and the booted stack's public
objects. Fault models as replayable records, radiation environments (YAML presets), campaigns with
statistics, reports and CI gates (`fault-inject campaign`), record replay, and flight under a storm.
"""

from ._campaign import (
    Campaign,
    Experiment,
    FaultSpec,
    campaign_from_dict,
    load_campaign,
)
from ._environments import PRESETS, Environment, load_preset, resolve_environment
from ._errors import CampaignError
from ._faults import BitFlip, FlipAtCycle, StuckAt
from ._gates import GateResult, evaluate, write_junit
from ._models import FaultRecord, Hit, apply_hits, undo
from ._report import summarize, write_report
from ._runner import CampaignResult, run_campaign
from ._stats import (
    clopper_pearson_upper,
    leveugle_sample_size,
    poisson_rate_interval,
    wilson,
)

__all__ = [
    "BitFlip", "FlipAtCycle", "StuckAt",
    "Campaign", "Experiment", "FaultSpec", "campaign_from_dict", "load_campaign",
    "PRESETS", "Environment", "load_preset", "resolve_environment",
    "CampaignError",
    "GateResult", "evaluate", "write_junit",
    "FaultRecord", "Hit", "apply_hits", "undo",
    "summarize", "write_report",
    "CampaignResult", "run_campaign",
    "clopper_pearson_upper", "leveugle_sample_size", "poisson_rate_interval", "wilson",
]
