"""The one error type of campaign inputs: a bad key, value or file, named in one line."""

from flight import SeuguardError


class CampaignError(SeuguardError):
    """A campaign file, preset, record or option is wrong; the message names the key and why."""
