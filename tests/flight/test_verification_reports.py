"""`verification_of`: which outgoing telemetry packets are verification reports, for which request,
and whether they are final: one reading of the header, checked against spacepackets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.ecss.tm import PusTm

from flight import APID, TmType, encode_command, CommandCode, decode_command
from flight.comms._packets import TIMESTAMP_LEN, encode_tm, encode_verification, verification_of

FINAL = {TmType.REJECTED, TmType.COMPLETED, TmType.FAILED}


def spacepackets_tm(service: int, subtype: int, data: bytes, cycle: int, seq: int, apid: int = APID) -> bytes:
    return bytes(PusTm(service=service, message_subtype=subtype, timestamp=cycle.to_bytes(TIMESTAMP_LEN, "big"),
                       source_data=data, apid=apid, seq_count=seq).pack())


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(TmType)),
    request_id=st.binary(min_size=4, max_size=4),
    reason=st.integers(0, 0xFFFF),
    text=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    cycle=st.integers(0, 2**64 - 1),
    seq=st.integers(0, 0x3FFF),
)
def test_verification_of_agrees_with_spacepackets(kind, request_id, reason, text, cycle, seq):
    data = encode_verification(request_id, reason, text)
    packet = spacepackets_tm(*kind.value, data, cycle, seq)
    assert packet == encode_tm(kind, cycle, data, seq)
    parsed = PusTm.unpack(packet, timestamp_len=TIMESTAMP_LEN)
    if parsed.service == 1:
        assert verification_of(packet) == (bytes(parsed.source_data[:4]), kind in FINAL)
    else:
        assert verification_of(packet) is None


def test_the_request_id_is_the_one_the_telecommand_carried():
    raw = encode_command(CommandCode.NOOP, seq_count=1234)
    command = decode_command(raw)
    report = encode_tm(TmType.COMPLETED, 9, encode_verification(command.request_id), 0)
    assert verification_of(report) == (raw[:4], True)
    assert verification_of(encode_tm(TmType.ACCEPTED, 9, encode_verification(command.request_id), 0)) == (raw[:4], False)


def test_packets_that_are_not_our_verification_reports_are_none():
    good = spacepackets_tm(1, 7, encode_verification(b"abcd"), 1, 1)
    assert verification_of(good) == (b"abcd", True)
    assert verification_of(spacepackets_tm(1, 7, encode_verification(b"abcd"), 1, 1, apid=APID + 1)) is None
    assert verification_of(spacepackets_tm(1, 3, encode_verification(b"abcd"), 1, 1)) is None  # not a report we send
    assert verification_of(good[:-1]) is None  # length field disagrees
    assert verification_of(good + b"\0") is None
    assert verification_of(encode_command(CommandCode.NOOP)) is None  # a telecommand
    assert verification_of(b"") is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_raise(raw):
    result = verification_of(raw)
    assert result is None or (len(result[0]) == 4 and isinstance(result[1], bool))
