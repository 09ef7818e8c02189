"""Commanding: the dispatch table, one event per refusal, the APID demultiplexer, the bounded queue."""

from __future__ import annotations

import pytest

from flight import COMMANDS, APID, CommandCode, EventId, TmType, decode_tm, decode_verification, encode_command, load_config, make_executive
from flight.executive._commanding import MAX_TC_QUEUE, Commanding
from flight.executive._telemetry import Telemetry

from executive_helpers import event_texts, step_until


def test_every_command_in_the_spec_has_exactly_one_handler(lander_store, lander_world):
    executive = make_executive(lander_store, load_config(), lander_world)
    executive.close()
    assert set(executive.commanding.handlers) == set(COMMANDS)


def test_a_refused_command_is_counted_once_with_one_event_and_one_failure_report(lander_store, lander_world):
    executive = make_executive(lander_store, load_config(), lander_world)
    try:
        executive.uplink(encode_command(CommandCode.ROLLBACK, seq_count=9))  # slot B is empty
        step_until(executive, lander_world, lambda: executive.housekeeping().cmd_rejected)
        executive.flush_telemetry()
    finally:
        executive.close()
    refusals = event_texts(executive, EventId.TC_REJECTED_ERR)
    assert refusals == ["REFUSED: ROLLBACK: slot B does not verify: slot B is empty"]
    reports = [decode_tm(p) for p in executive.outbox]
    failed = [decode_verification(p.data) for p in reports if p.type is TmType.FAILED]
    assert len(failed) == 1 and failed[0][2] == "slot B does not verify: slot B is empty"
    assert executive.housekeeping().cmd_rejected == 1 and executive.housekeeping().cmd_accepted == 0


def test_packets_on_another_apid_go_to_their_sink_not_the_telecommand_queue():
    telemetry = Telemetry()
    commanding = Commanding(telemetry)
    received = []
    commanding.route(0x0C9, received.append)
    other = bytes([0x18 | (0x0C9 >> 8), 0x0C9 & 0xFF]) + b"\xc0\x00\x00\x03" + b"PDU!"
    commanding.uplink(other)
    commanding.uplink(encode_command(CommandCode.NOOP, seq_count=1))
    assert received == [other]
    assert len(commanding.queue) == 1
    commanding.step()
    assert commanding.statistics().cmd_accepted == 1 and commanding.statistics().cmd_rejected == 0


def test_the_telecommand_apid_cannot_be_rerouted():
    from flight import ExecutiveInternalError

    with pytest.raises(ExecutiveInternalError, match="^the telecommand APID cannot be rerouted$"):
        Commanding(Telemetry()).route(APID, lambda packet: None)


def test_a_full_queue_refuses_at_once_and_reports_it():
    telemetry = Telemetry()
    commanding = Commanding(telemetry)
    for i in range(MAX_TC_QUEUE + 3):
        commanding.uplink(encode_command(CommandCode.NOOP, seq_count=i))
    assert len(commanding.queue) == MAX_TC_QUEUE
    assert commanding.statistics().cmd_rejected == 3
    telemetry.release()
    rejected = [decode_tm(p) for p in telemetry.outbox if decode_tm(p).type is TmType.REJECTED]
    assert len(rejected) == 3 and all(decode_verification(p.data)[1] == 10 for p in rejected)  # QUEUE_FULL
