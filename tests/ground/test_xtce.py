"""`ground dictionary --xtce`: the XML decodes the flight's own packets, field by field."""

from __future__ import annotations

import dataclasses
import json
import struct
import xml.etree.ElementTree as ET

import pytest

import yamcs.pymdb  # noqa: E402,F401  (the console extra: missing is a failure, not a skip)

from flight import COMMANDS, CommandCode, EventId, Housekeeping, TimingReport, TmType, encode_command
from flight.comms._packets import HOUSEKEEPING_FIELDS, encode_event, encode_tm
from ground._cli import main

NS = {"x": "http://www.omg.org/spec/XTCE/20180204"}


@pytest.fixture(scope="module")
def xtce(tmp_path_factory):
    path = tmp_path_factory.mktemp("xtce") / "seuguard.xml"
    assert main(["dictionary", "--xtce", str(path)]) == 0
    return ET.parse(path).getroot()


def _container(root, name):
    for c in root.iterfind(".//x:SequenceContainer", NS):
        if c.get("name") == name:
            return c
    raise AssertionError(f"no container {name}")


def _entries(root, name):
    """(parameter, bit position, size in bits) of a container, read from the XML alone."""
    sizes = {t.get("name"): int(t.get("sizeInBits")) for t in root.iterfind(".//x:IntegerParameterType", NS)}
    for t in root.iterfind(".//x:EnumeratedParameterType", NS):
        sizes[t.get("name")] = int(t.find("x:IntegerDataEncoding", NS).get("sizeInBits"))
    types = {p.get("name"): p.get("parameterTypeRef") for p in root.iterfind(".//x:Parameter", NS)}
    out = []
    for e in _container(root, name).iterfind("x:EntryList/x:ParameterRefEntry", NS):
        ref = e.get("parameterRef")
        pos = int(e.find("x:LocationInContainerInBits/x:FixedValue", NS).text)
        out.append((ref, pos, sizes[types[ref]]))
    return out


def _field(packet: bytes, pos: int, bits: int) -> int:
    assert pos % 8 == 0 and bits % 8 == 0
    return int.from_bytes(packet[pos // 8 : (pos + bits) // 8], "big")


def test_every_housekeeping_field_has_its_type_and_bit_position_and_decodes_a_real_packet(xtce):
    values, n = {}, 0
    for f in HOUSEKEEPING_FIELDS:  # distinct values, each fitting its type
        if f.per_replica:
            values[f.name] = tuple(n + r + 1 for r in range(3))
            n += 3
        else:
            values[f.name] = n + 1
            n += 1
    packet = encode_tm(TmType.HOUSEKEEPING, 77, Housekeeping(**values).pack(), 0)
    entries = {ref: (pos, bits) for ref, pos, bits in _entries(xtce, "housekeeping")}
    expected_pos = 21 * 8
    for f in HOUSEKEEPING_FIELDS:
        names = [f"hk_{f.name}_{r}" for r in range(3)] if f.per_replica else [f"hk_{f.name}"]
        wanted = list(values[f.name]) if f.per_replica else [values[f.name]]
        for name, value in zip(names, wanted):
            pos, bits = entries.pop(name)
            assert bits == f.bits == struct.calcsize(">" + f.type) * 8, name
            assert pos == expected_pos, name
            assert _field(packet, pos, bits) == value, name
            expected_pos += bits
    assert entries == {}  # nothing in the XML that flight does not send
    assert expected_pos == len(packet) * 8 - 16  # the CRC follows the last field


def test_the_cycle_counter_is_the_time_field_and_containers_are_restricted_by_service(xtce):
    packet = encode_tm(TmType.HOUSEKEEPING, 123456789, Housekeeping(**{
        f.name: (0, 0, 0) if f.per_replica else 0 for f in HOUSEKEEPING_FIELDS}).pack(), 0)
    (ref, pos, bits), = [e for e in _entries(xtce, "pus_tm") if e[0] == "cycle"]
    assert _field(packet, pos, bits) == 123456789
    comparisons = {c.find("x:ParameterInstanceRef", NS).get("parameterRef"): c.find("x:Value", NS).text
                   for c in _container(xtce, "timing_report").iterfind(".//x:RestrictionCriteria//x:Condition", NS)}
    assert comparisons == {"pus_service": "3", "pus_subtype": "26"}


def test_timing_report_and_event_id_decode_real_packets(xtce):
    from ground._xtce import TIMING_ROWS

    triples = tuple((3 * i + 1, 3 * i + 2, 3 * i + 3) for i in range(len(TIMING_ROWS)))
    packet = encode_tm(TmType.TIMING, 5, TimingReport(7, 9, triples).pack(), 0)
    decoded = {ref: _field(packet, pos, bits) for ref, pos, bits in _entries(xtce, "timing_report")}
    assert decoded["timing_overruns"] == 7 and decoded["timing_skipped_slots"] == 9
    for row, (p50, p99, mx) in zip(TIMING_ROWS, triples):
        assert (decoded[f"timing_{row}_p50_us"], decoded[f"timing_{row}_p99_us"], decoded[f"timing_{row}_max_us"]) == (p50, p99, mx)
    assert len(decoded) == 2 + 3 * len(TIMING_ROWS)
    event = encode_tm(TmType.EVENT_HIGH, 5, encode_event(EventId.CHUNK_UNREPAIRABLE_ERR, "r1"), 0)
    (ref, pos, bits), = _entries(xtce, "event_high")
    assert _field(event, pos, bits) == EventId.CHUNK_UNREPAIRABLE_ERR
    names = {e.get("label") for e in xtce.iterfind(".//x:EnumeratedParameterType[@name='event_id']//x:Enumeration", NS)}
    assert names == {e.name for e in EventId}


def test_every_command_has_its_service_arguments_and_limits(xtce):
    commands = {c.get("name"): c for c in xtce.iterfind(".//x:MetaCommand", NS)}
    arg_types = {t.get("name"): t for t in xtce.iterfind(".//x:IntegerArgumentType", NS)}
    for code, spec in COMMANDS.items():
        cmd = commands[code.name]
        header = cmd.find(".//x:FixedValueEntry[@name='pus_tc_secondary_header']", NS)
        args = cmd.findall("x:ArgumentList/x:Argument", NS)
        assert len(args) == len(spec.limits), code.name
        values = []
        for arg, kind, (low, high) in zip(args, spec.args.lstrip(">"), spec.limits):
            t = arg_types[arg.get("argumentTypeRef")]
            assert int(t.get("sizeInBits")) == struct.calcsize(">" + kind) * 8
            valid = t.find("x:ValidRangeSet/x:ValidRange", NS)
            assert (int(valid.get("minInclusive")), int(valid.get("maxInclusive"))) == (low, high), code.name
            values.append(high)
        # the fixed secondary header and the arguments are the bytes flight's encoder writes
        wire = encode_command(code, tuple(values), 0)
        expected = bytes.fromhex(header.get("binaryValue")) + (struct.pack(spec.args, *values) if spec.args else b"")
        assert wire[6:-2] == expected, code.name
    assert set(commands) - {"ccsds_space_packet", "pus_tc"} == {c.name for c in CommandCode}


def test_dictionary_json_summary_and_bad_path(tmp_path, capsys):
    assert main(["dictionary", "--xtce", str(tmp_path / "d.xml"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["commands"] == len(COMMANDS) and summary["housekeeping_parameters"] > len(HOUSEKEEPING_FIELDS)
    with pytest.raises(SystemExit) as usage:  # a missing folder is a usage error, caught by the parser
        main(["dictionary", "--xtce", str(tmp_path / "missing" / "d.xml")])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
