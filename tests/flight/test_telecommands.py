"""Telecommands: decode → verify → handle; every malformed packet rejected, counted and reported."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight import (
    APID,
    COMMANDS,
    Command,
    CommandCode,
    EventId,
    Rejection,
    RejectReason,
    SlotStore,
    TmType,
    crc16_ccitt_false,
    decode_command,
    decode_tm,
    decode_verification,
    encode_command,
    load_config,
    make_executive,
)
from sim.lunar_lander import LunarLanderWorld

ROOT = Path(__file__).resolve().parents[2]


def with_crc(body: bytes) -> bytes:
    return body + crc16_ccitt_false(body).to_bytes(2, "big")


def valid_packets() -> list[bytes]:
    args = {CommandCode.SET_MODE: (1,), CommandCode.SET_SCRUB_BUDGET: (4096,), CommandCode.ACTIVATE_SLOT: (1,)}
    return [encode_command(code, args.get(code, ()), seq_count=i) for i, code in enumerate(CommandCode)]


@pytest.mark.parametrize("packet", valid_packets(), ids=lambda p: decode_command(p).code.name)
def test_every_command_round_trips(packet):
    decoded = decode_command(packet)
    assert isinstance(decoded, Command)
    assert decoded.request_id == packet[:4]


def test_bad_crc_is_rejected():
    packet = bytearray(encode_command(CommandCode.NOOP, seq_count=1))
    packet[-1] ^= 0x01
    result = decode_command(bytes(packet))
    assert isinstance(result, Rejection) and result.reason is RejectReason.BAD_CRC


@pytest.mark.parametrize("cut", [0, 1, 5, 6, 10, 12])
def test_truncated_packet_is_rejected(cut):
    result = decode_command(encode_command(CommandCode.NOOP)[:cut])
    assert isinstance(result, Rejection) and result.reason is RejectReason.TRUNCATED


def test_trailing_bytes_are_a_wrong_length():
    result = decode_command(encode_command(CommandCode.NOOP) + b"\x00")
    assert isinstance(result, Rejection) and result.reason is RejectReason.WRONG_LENGTH


def test_unknown_apid_is_rejected():
    packet = encode_command(CommandCode.NOOP, apid=APID + 1)
    result = decode_command(packet)
    assert isinstance(result, Rejection) and result.reason is RejectReason.UNKNOWN_APID
    assert result.detail == f"APID 0x{APID + 1:03x}"


def test_unknown_service_is_rejected():
    good = encode_command(CommandCode.NOOP)
    body = bytearray(good[:-2])
    body[7], body[8] = 99, 1  # PUS-C TC secondary header: service and subtype follow the flags byte
    result = decode_command(with_crc(bytes(body)))
    assert isinstance(result, Rejection) and result.reason is RejectReason.UNKNOWN_SERVICE
    assert result.detail == "service 99,1"


def test_argument_of_the_wrong_size_is_a_wrong_length():
    spec = COMMANDS[CommandCode.SET_MODE]
    good = encode_command(CommandCode.SET_MODE, (1,))
    body = bytearray(good[:-2]) + b"\x00"  # one data byte too many
    length = len(body) + 2 - 6 - 1
    body[4:6] = struct.pack(">H", length)
    result = decode_command(with_crc(bytes(body)))
    assert isinstance(result, Rejection) and result.reason is RejectReason.WRONG_LENGTH
    assert result.detail == "SET_MODE takes 1 data bytes, got 2"
    assert spec.args == ">B"


@pytest.mark.parametrize("code, value", [(CommandCode.SET_MODE, 3), (CommandCode.ACTIVATE_SLOT, 2),
                                         (CommandCode.SET_SCRUB_BUDGET, 10)])
def test_argument_out_of_range_is_rejected(code, value):
    result = decode_command(encode_command(code, (value,)))
    assert isinstance(result, Rejection) and result.reason is RejectReason.BAD_ARGUMENT


def test_telemetry_packet_is_not_a_telecommand():
    from flight.comms._packets import encode_tm

    result = decode_command(encode_tm(TmType.HOUSEKEEPING, 1, b"x" * 4, 0))
    assert isinstance(result, Rejection) and result.reason is RejectReason.NOT_A_TELECOMMAND


# --- properties -------------------------------------------------------------------------------

_PROPERTY = settings(max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(st.binary(max_size=64))
def test_random_bytes_never_raise_and_are_never_a_command_unless_valid(data):
    result = decode_command(data)
    assert isinstance(result, (Command, Rejection))
    if isinstance(result, Command):
        # Anything accepted must be a well-formed packet that re-encodes to the same bytes.
        assert encode_command(result.code, result.args, result.seq_count) == data


@_PROPERTY
@given(st.sampled_from(valid_packets()), st.lists(st.integers(0, 10_000), min_size=1, max_size=3, unique=True))
def test_any_corruption_of_up_to_three_bits_is_rejected(packet, positions):
    corrupted = bytearray(packet)
    for bit in {p % (8 * len(packet)) for p in positions}:  # 1 to 3 distinct bits
        corrupted[bit // 8] ^= 1 << (bit % 8)
    assert isinstance(decode_command(bytes(corrupted)), Rejection)


# --- in the executive ---------------------------------------------------------------------------


@pytest.fixture
def executive(tmp_path):
    shutil.copytree(ROOT / "models" / "lander-discrete", tmp_path / "store" / "A")
    world = LunarLanderWorld()
    ex = make_executive(SlotStore.open(tmp_path / "store"), load_config(), world)
    ex.world = world
    yield ex
    ex.close()
    world.close()


MALFORMED = {
    "bad_crc": (lambda p: p[:-1] + bytes([p[-1] ^ 1]), "BAD_CRC"),
    "truncated": (lambda p: p[:9], "TRUNCATED"),
    "unknown_apid": (lambda p: encode_command(CommandCode.NOOP, apid=0x7FF), "UNKNOWN_APID"),
    "random": (lambda p: bytes(range(40, 60)), None),
    "empty": (lambda p: b"", "TRUNCATED"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_telecommand_is_rejected_counted_and_reported(executive, kind):
    mutate, reason = MALFORMED[kind]
    packet = mutate(encode_command(CommandCode.NOOP, seq_count=9))
    obs = executive.world.reset(0)
    executive.uplink(packet)
    results = [executive.step([obs]) for _ in range(3)]
    hk = executive.housekeeping()
    assert hk.cmd_rejected == 1 and hk.cmd_accepted == 0
    rejected = [e.text for e in executive.events if e.id is EventId.TC_REJECTED_ERR]
    assert len(rejected) == 1
    if reason:
        assert rejected[0].startswith(f"{reason}: ")
    reports = [decode_tm(p) for p in executive.outbox]
    failures = [r for r in reports if r.type is TmType.REJECTED]
    assert len(failures) == 1
    _, code, _ = decode_verification(failures[0].data)
    if reason:
        assert RejectReason(code).name == reason
    # The schedule is undisturbed: every cycle still flew on a voted model output.
    assert [r.cycle for r in results] == [1, 2, 3]
    assert all(r.outputs is not None for r in results) and hk.votes_unanimous == 3


def test_accepted_command_is_acknowledged_and_completed(executive):
    packet = encode_command(CommandCode.SET_SCRUB_BUDGET, (8192,), seq_count=4)
    obs = executive.world.reset(0)
    executive.uplink(packet)
    executive.step([obs])
    types = [decode_tm(p).type for p in executive.outbox]
    assert TmType.ACCEPTED in types and TmType.COMPLETED in types
    assert executive.models.scrub_budget == 8192 and executive.stack.scrubber.budget_bytes == 8192
    assert executive.housekeeping().cmd_accepted == 1


def test_reset_counters_zeroes_the_counters(executive):
    obs = executive.world.reset(0)
    executive.uplink(b"junk")
    for _ in range(3):
        executive.step([obs])
    assert executive.housekeeping().cmd_rejected == 1
    executive.uplink(encode_command(CommandCode.RESET_COUNTERS, seq_count=5))
    executive.step([obs])
    executive.step([obs])
    hk = executive.housekeeping()
    assert hk.cmd_rejected == 0 and hk.inferences <= 2


def test_a_flood_of_telecommands_waits_for_later_comm_slots(executive):
    obs = executive.world.reset(0)
    for i in range(40):
        executive.uplink(encode_command(CommandCode.NOOP, seq_count=i))
    executive.step([obs])
    assert executive.housekeeping().cmd_accepted == 16  # one comm slot takes at most 16
    for _ in range(10):
        executive.step([obs])
    assert executive.housekeeping().cmd_accepted == 40


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(TmType)), st.integers(0, 2**64 - 1), st.binary(max_size=300), st.integers(0, 2**20))
def test_fast_telemetry_encoder_matches_spacepackets(kind, cycle, data, seq):
    from flight.comms._packets import encode_tm, encode_tm_reference

    packet = encode_tm(kind, cycle, data, seq)
    assert packet == encode_tm_reference(kind, cycle, data, seq)
    tm = decode_tm(packet)
    assert (tm.type, tm.cycle, tm.data, tm.seq_count) == (kind, cycle, data, seq & 0x3FFF)
