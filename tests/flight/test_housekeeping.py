"""Housekeeping: declared field by field with wire types, filled by name from component statistics."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from flight import ExecutiveInternalError, Housekeeping, PacketError, load_config, make_executive
from flight.comms._packets import HOUSEKEEPING_FIELDS
from flight.executive._housekeeping import housekeeping, merged


def test_every_field_declares_an_explicit_wire_type_and_a_doc():
    assert [f.name for f in HOUSEKEEPING_FIELDS][:3] == ["cycle", "mode", "active_slot"]
    for f in HOUSEKEEPING_FIELDS:
        assert f.type in ("B", "H", "I", "Q") and f.doc, f
    assert {f.name for f in HOUSEKEEPING_FIELDS if f.per_replica} == {"suspects", "cycles_since_verified"}


def _values(draw_int, replicas):
    return {f.name: tuple(draw_int(f) for _ in range(replicas)) if f.per_replica else draw_int(f)
            for f in HOUSEKEEPING_FIELDS}


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 7), st.data())
def test_pack_unpack_round_trips_for_any_replica_count(replicas, data):
    values = _values(lambda f: data.draw(st.integers(0, (1 << f.bits) - 1)), replicas)
    hk = Housekeeping(**values)
    assert Housekeeping.unpack(hk.pack()) == hk


def test_a_value_too_large_for_its_field_saturates_instead_of_corrupting_its_neighbours():
    values = _values(lambda f: 1, 3)
    values["mode"] = 300  # u8
    values["cmd_accepted"] = 1 << 40  # u32
    back = Housekeeping.unpack(Housekeeping(**values).pack())
    assert back.mode == 255 and back.cmd_accepted == (1 << 32) - 1 and back.cmd_rejected == 1


@pytest.mark.parametrize("size", [0, 10, 100, 137])
def test_a_packet_of_the_wrong_size_is_refused_naming_the_sizes(size):
    with pytest.raises(PacketError, match=r"^housekeeping is \d+ bytes, expected \d+ \+ 8 per replica$"):
        Housekeeping.unpack(bytes(size))


def test_every_field_is_filled_by_a_component_of_a_flying_executive(lander_store, lander_world):
    executive = make_executive(lander_store, load_config(), lander_world)
    executive.close()
    names = set(executive.statistics())
    assert {f.name for f in HOUSEKEEPING_FIELDS} <= names
    hk = executive.housekeeping()
    assert len(hk.suspects) == len(hk.cycles_since_verified) == 3


def test_a_field_no_component_reports_is_a_wiring_error():
    with pytest.raises(ExecutiveInternalError, match="^no component reports housekeeping field cycle$"):
        housekeeping({}, 3)


def test_a_field_two_components_report_is_a_wiring_error():
    @dataclass(frozen=True)
    class A:
        events: int

    with pytest.raises(ExecutiveInternalError, match="^statistics field events reported twice$"):
        merged([A(1), A(2)])


def test_the_wire_layout_for_three_replicas_is_the_declared_struct():
    fmt = ">" + "".join(f.type * (3 if f.per_replica else 1) for f in HOUSEKEEPING_FIELDS)
    values = _values(lambda f: 7, 3)
    assert len(Housekeeping(**values).pack()) == struct.calcsize(fmt)
