"""Telemetry: numbered packets, the digest, and the per-id event filter."""

from __future__ import annotations

from flight import EventId, TmType, decode_tm
from flight.executive._telemetry import EVENTS_PER_ID_PER_MAJOR_FRAME, Telemetry


def test_a_burst_of_one_event_is_filtered_per_major_frame_and_counted():
    telemetry = Telemetry()
    for i in range(EVENTS_PER_ID_PER_MAJOR_FRAME + 5):
        telemetry.event(EventId.CHUNK_REPAIRED_INF, f"repair {i}")
    telemetry.event(EventId.VOTE_CORRECTED_LOW, "another id still gets through")
    assert telemetry.statistics().events == EVENTS_PER_ID_PER_MAJOR_FRAME + 1
    assert telemetry.statistics().events_suppressed == 5
    telemetry.end_major_frame()
    telemetry.event(EventId.CHUNK_REPAIRED_INF, "next major frame")
    assert telemetry.statistics().events == EVENTS_PER_ID_PER_MAJOR_FRAME + 2


def test_packets_leave_only_when_released_in_order_with_sequence_counts():
    telemetry = Telemetry()
    telemetry.cycle = 7
    telemetry.packet(TmType.RESULT, b"\x00")
    telemetry.event(EventId.BOOT_INF, "hello")
    assert not telemetry.outbox
    telemetry.release()
    packets = [decode_tm(p) for p in telemetry.outbox]
    assert [(p.type, p.cycle, p.seq_count) for p in packets] == [(TmType.RESULT, 7, 0), (TmType.EVENT_INFO, 7, 1)]


def test_wall_clock_packets_stay_out_of_the_digest():
    a, b = Telemetry(), Telemetry()
    a.packet(TmType.RESULT, b"\x00")
    b.packet(TmType.RESULT, b"\x00")
    b.packet(TmType.TIMING, b"\x01" * 8, deterministic=False)
    assert a.digest.hexdigest() == b.digest.hexdigest()
