"""A telecommand flood: every command that reaches the flight gets its report, the kernel's drops are
counted, housekeeping keeps its period, and the flight stays NOMINAL (issue 7, part 5)."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np

from flight import CommandCode, Housekeeping, Mode, SlotStore, TmType, decode_tm, decode_verification, encode_command, load_config, make_executive
from flight._serve import serve
from flight.comms._links import UdpLink
from sim.lunar_lander import LunarLanderWorld

from _net import wait_for

ROOT = Path(__file__).resolve().parents[2]
SENT, VALID = 20_000, 1_000
FINAL = {TmType.REJECTED, TmType.COMPLETED, TmType.FAILED}


class SmallBufferLink(UdpLink):
    RCVBUF_BYTES = 64 << 10  # small enough that a flood overflows it: the drops must be counted


def listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    return sock


def collect(sock: socket.socket, into: list, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            into.append(decode_tm(sock.recv(65535)))
        except socket.timeout:
            continue


def test_a_flood_of_datagrams_gets_every_arrival_a_report_and_counts_the_kernel_drops():
    rng = np.random.default_rng(7)
    valid = [encode_command(CommandCode.NOOP, seq_count=i) for i in range(VALID)]
    garbage = [rng.integers(0, 256, rng.integers(1, 40), dtype=np.uint8).tobytes() for _ in range(SENT - VALID)]
    flood = garbage[:]
    for i, packet in enumerate(valid):
        flood.insert(i * (SENT // VALID), packet)
    valid_ids = {p[:4] for p in valid}

    tm_sock, tc_sender = listener(), listener()
    link = SmallBufferLink("127.0.0.1", 0, tm_sock.getsockname()[1])
    world = LunarLanderWorld()
    executive = make_executive(SlotStore.single(ROOT / "models" / "lander-discrete"), load_config(), world)
    stop, done = threading.Event(), threading.Event()
    replies, telemetry = [], []
    readers = [threading.Thread(target=collect, args=(tc_sender, replies, done)),
               threading.Thread(target=collect, args=(tm_sock, telemetry, done))]
    flight = threading.Thread(target=serve, args=(executive, world, link), kwargs={"stop": stop})
    for t in readers + [flight]:
        t.start()
    try:
        wait_for(lambda: any(p.type is TmType.HOUSEKEEPING for p in telemetry), 30, "first housekeeping")
        for packet in flood:
            tc_sender.sendto(packet, ("127.0.0.1", link.port))
        # Every datagram that reached the process is owed exactly one final report.
        wait_for(lambda: link.datagrams + link.kernel_drops == SENT, 30, "every datagram read or counted dropped")
        wait_for(lambda: sum(p.type in FINAL for p in replies) >= link.datagrams, 60, "a final report per arrival")
        first_hk_after = executive.cycle + 2 * executive.schedule.minor_frames
        wait_for(lambda: executive.cycle > first_hk_after, 30, "two more major frames")
    finally:
        stop.set()
        flight.join(30)
        done.set()
        for t in readers:
            t.join(5)
        world.close()
        tm_sock.close()
        tc_sender.close()
    finals = [p for p in replies if p.type in FINAL]
    assert link.kernel_drops > 0, "the small buffer never overflowed: the test proves nothing"
    assert link.datagrams + link.kernel_drops == SENT
    assert len(finals) == link.datagrams  # one final report per datagram that arrived, no more
    noop_finals = [p for p in finals if decode_verification(p.data)[0] in valid_ids]
    reasons = {decode_verification(p.data)[1] for p in noop_finals if p.type is TmType.REJECTED}
    assert reasons <= {10}  # a valid NOOP is completed, or refused only because the queue was full
    assert any(p.type is TmType.COMPLETED for p in noop_finals)
    hks = [(p.cycle, Housekeeping.unpack(p.data)) for p in telemetry if p.type is TmType.HOUSEKEEPING]
    cycles = [c for c, _ in hks]
    assert cycles == list(range(cycles[0], cycles[-1] + 1, 10))  # no major frame without housekeeping
    assert all(hk.mode == Mode.NOMINAL for _, hk in hks)
    assert hks[-1][1].tc_kernel_drops == link.kernel_drops
    assert hks[-1][1].cmd_accepted + hks[-1][1].cmd_rejected == link.datagrams
