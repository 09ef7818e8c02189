"""Ground takes slot, mode and task names from flight, never from a copy of its own."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from flight import CommandCode, Housekeeping, Mode, TimingReport
from flight.executive._config import TASKS
from flight.storage import SLOTS
from ground._cli import _command_args
from ground._monitor import TIMING_ROWS, _table


@pytest.mark.parametrize("word, value", [(SLOTS[0], 0), (SLOTS[1].lower(), 1), ("1", 1)])
def test_activate_slot_takes_the_flights_slot_names(word, value):
    assert _command_args(CommandCode.ACTIVATE_SLOT, [word]) == (value,)


def test_an_unknown_slot_is_refused_naming_the_flights_slots():
    with pytest.raises(ValueError, match=r"^ACTIVATE_SLOT: 'C' is not a valid argument \(A, B\)$"):
        _command_args(CommandCode.ACTIVATE_SLOT, ["C"])


def test_set_mode_takes_the_flights_mode_names():
    assert _command_args(CommandCode.SET_MODE, ["safe"]) == (Mode.SAFE.value,)


def test_the_monitor_names_timing_rows_after_the_flights_tasks():
    assert TIMING_ROWS == (*TASKS, "lateness")
    hk = Housekeeping(**{name: 0 for name in Housekeeping.__dataclass_fields__})
    hk = Housekeeping(**{**hk.__dict__, "active_slot": 1, "replicas_in_vote": 0b101, "mode": Mode.DEGRADED.value})
    timing = TimingReport(0, 0, tuple((i, i + 1, i + 2) for i in range(len(TIMING_ROWS))))
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(_table(hk, timing, []))
    text = out.getvalue()
    for task in TIMING_ROWS:
        assert task in text
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in text.splitlines() if line.count("│") >= 3}
    assert rows["active_slot"] == "B" and rows["replicas_in_vote"] == "0,2" and rows["mode"] == "DEGRADED"
