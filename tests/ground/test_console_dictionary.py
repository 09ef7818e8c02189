"""The console's dictionary and decoder come from flight's definitions; no datagram stops the receiver."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aiohttp  # noqa: E402,F401  (the console extra, which `make` installs: missing is a failure, not a skip)

from flight import EventId, Housekeeping, TimingReport, TmType
from flight.comms._packets import HOUSEKEEPING_FIELDS, encode_event, encode_tm
from ground._console import Console
from ground._console_dictionary import LIMITS, dictionary, samples
from ground._xtce import TIMING_ROWS
from flight import decode_tm


def _hk() -> Housekeeping:
    return Housekeeping(**{f.name: (i, i + 1, i + 2) if f.per_replica else i for i, f in enumerate(HOUSEKEEPING_FIELDS)})


def test_every_housekeeping_field_timing_row_and_the_events_are_in_the_dictionary():
    keys = [m["key"] for m in dictionary(3)]
    for f in HOUSEKEEPING_FIELDS:
        wanted = [f"hk.{f.name}.{r}" for r in range(3)] if f.per_replica else [f"hk.{f.name}"]
        assert all(k in keys for k in wanted), f.name
    assert all(f"timing.{row}.p99" in keys for row in TIMING_ROWS) and "timing.overruns" in keys
    assert "events" in keys and len(keys) == len(set(keys))


def test_limits_cover_failed_votes_unrepairable_chunks_mode_overruns_and_refusals():
    by_key = {m["key"]: m for m in dictionary()}
    for key in ("hk.votes_failed", "hk.chunks_unrepairable", "hk.mode", "timing.overruns", "hk.cmd_rejected"):
        assert by_key[key]["limits"] == dict(zip(("yellow", "red"), LIMITS[key]))
    assert by_key["hk.mode"]["limits"] == {"yellow": 1, "red": 2}  # DEGRADED yellow, SAFE red


def test_decoded_samples_are_the_flights_values():
    hk = _hk()
    values = dict(samples(decode_tm(encode_tm(TmType.HOUSEKEEPING, 9, hk.pack(), 0))))
    for f in HOUSEKEEPING_FIELDS:
        if f.per_replica:
            assert [values[f"hk.{f.name}.{r}"] for r in range(3)] == list(getattr(hk, f.name))
        else:
            assert values[f"hk.{f.name}"] == getattr(hk, f.name)
    triples = tuple((i, i + 1, i + 2) for i in range(len(TIMING_ROWS)))
    timing = dict(samples(decode_tm(encode_tm(TmType.TIMING, 9, TimingReport(4, 5, triples).pack(), 1))))
    assert timing["timing.overruns"] == 4 and timing[f"timing.{TIMING_ROWS[-1]}.max"] == triples[-1][2]
    event = samples(decode_tm(encode_tm(TmType.EVENT_HIGH, 9, encode_event(EventId.CHUNK_UNREPAIRABLE_ERR, "r2"), 2)))
    assert event == [("events", "HIGH CHUNK_UNREPAIRABLE_ERR: r2")]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 299))
def test_no_datagram_stops_the_receiver_and_each_is_either_decoded_or_counted(tmp_path_factory, junk, cut):
    console = Console(tmp_path_factory.mktemp("c") / "h.sqlite")
    good = encode_tm(TmType.HOUSEKEEPING, 3, _hk().pack(), 0)
    for data in (junk, good[:cut], good):
        console.receive(data)
    s = console.stats
    assert s.datagrams == 3 and s.packets + s.malformed == 3
    assert s.housekeeping >= 1 and s.last_cycle == 3
    console.store.close()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(list(TmType)), st.integers(0, 2**64 - 1), st.binary(max_size=400))
def test_a_well_formed_packet_with_any_payload_is_decoded_or_counted(tmp_path_factory, kind, cycle, payload):
    console = Console(tmp_path_factory.mktemp("c") / "h.sqlite")
    console.receive(encode_tm(kind, cycle, payload, 0))  # header and CRC right, payload anything
    s = console.stats
    assert s.datagrams == 1 and s.packets + s.malformed == 1
    console.store.close()
