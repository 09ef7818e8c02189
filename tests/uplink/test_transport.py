"""The uplink's framing: CFDP PDUs in CCSDS Space Packets on their own APID. Run time: < 1 s."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from spacepackets.ccsds.spacepacket import PacketType, SequenceFlags, SpacePacket, SpacePacketHeader

from flight import APID
from flight.uplink import UPLINK_APID, unwrap_pdu, wrap_pdu


def test_the_uplink_has_its_own_apid_beside_telecommands():
    assert UPLINK_APID == 0x0C9 and UPLINK_APID != APID


@given(st.binary(min_size=1, max_size=1024), st.integers(0, 0x3FFF), st.booleans())
def test_wrapping_matches_spacepackets_byte_for_byte_and_unwraps(pdu, seq, tc):
    header = SpacePacketHeader(packet_type=PacketType.TC if tc else PacketType.TM, apid=UPLINK_APID,
                               seq_count=seq, data_len=len(pdu) - 1, sec_header_flag=False,
                               seq_flags=SequenceFlags.UNSEGMENTED)
    packed = wrap_pdu(pdu, seq, telecommand=tc)
    assert packed == bytes(SpacePacket(header, None, pdu).pack())
    assert unwrap_pdu(packed) == pdu


@given(st.binary(max_size=64))
def test_unwrapping_random_bytes_never_raises(raw):
    assert isinstance(unwrap_pdu(raw), (bytes, str))


def test_unwrapping_refuses_a_telecommand_apid_and_a_wrong_length():
    packet = wrap_pdu(b"abc", 1)
    other_apid = bytes([packet[0] & 0xF8, APID & 0xFF]) + packet[2:]
    assert "APID 0x0c8" in unwrap_pdu(other_apid)
    assert "length field" in unwrap_pdu(packet + b"x")


def test_the_uplink_package_exports_what_all_claims():
    import types

    import flight.uplink as uplink

    public = {n for n, v in vars(uplink).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert public == set(uplink.__all__)
