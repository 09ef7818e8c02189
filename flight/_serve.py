"""`flight serve`: the executive in real time, with telecommands in and telemetry out over a link.

Each minor frame starts on its deadline (`minor_frame_hz`); a frame that starts late counts toward
the jitter statistics and, when a whole frame was lost, the skipped-slot counter. Before each frame
every telecommand waiting on the link is uplinked; after it, released telemetry is sent. A
command's verification reports also go back to the address it came from, so `ground command` can
hear its acknowledgement while `ground monitor` holds the telemetry port.

On SIGTERM or SIGINT (or `stop` being set) the current frame finishes, telecommands already taken
off the link are handled, every queued packet is sent, and `serve` returns.

The same loop runs over any `Link` (comms/_links.py): UDP on loopback, or in-process queues.
"""

from __future__ import annotations

import signal
import threading
from collections import deque
import time
from typing import Any, Callable

from .comms._links import Link, QueueLink, UdpLink  # noqa: F401 (re-exported for callers)
from .executive._executive import Executive
from .comms._packets import verification_of
from ._world import World



def serve(
    executive: Executive,
    world: World,
    link: Link,
    seed: int = 0,
    max_cycles: int = 0,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run until SIGTERM/SIGINT, `stop`, or `max_cycles` frames (if > 0); return the cycles run.
    Signal handlers are installed only when called from the main thread."""
    stop = stop or threading.Event()
    period = executive.schedule.minor_frame_s
    # Senders of telecommands still owed a final report, by request id, oldest first: every
    # telecommand that arrives gets exactly one final report (completed, failed or rejected), so
    # each final report takes the oldest sender of its id off the list (ids may repeat in a flood).
    replies: dict[bytes, deque[Any]] = {}
    previous: dict[int, Any] = {}

    uplink_peer: list[Any] = [None]  # where the last uplink (file-transfer) packet came from

    def transmit() -> None:
        outbox = executive.uplink_component.outbox
        while outbox:  # CFDP replies go back to the ground station sending the patch
            packet = outbox.popleft()
            if uplink_peer[0] is not None:
                link.reply(packet, uplink_peer[0])
        while executive.outbox:
            packet = executive.outbox.popleft()
            link.send(packet)
            report = verification_of(packet)
            if report is not None and report[0] in replies:
                rid, final = report
                waiting = replies[rid]
                link.reply(packet, waiting[0])
                if final:
                    waiting.popleft()
                    if not waiting:
                        del replies[rid]

    try:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                previous[s] = signal.signal(s, lambda signum, frame: stop.set())
        episode = 0
        obs = world.reset(seed)
        next_start = clock()
        while not stop.is_set() and (max_cycles <= 0 or executive.cycle < max_cycles):
            now = clock()
            if now < next_start:
                sleep(next_start - now)
                now = clock()
            lateness = now - next_start
            skipped = int(lateness // period) if lateness >= period else 0
            executive.note_lateness(lateness - skipped * period, skipped)
            next_start += (skipped + 1) * period
            for packet, address in link.receive():  # every datagram waiting, each frame
                if executive.commanding.routed(packet):
                    uplink_peer[0] = address if address is not None else uplink_peer[0]
                elif address is not None:
                    replies.setdefault(bytes(packet[:4]).ljust(4, b"\x00"), deque()).append(address)
                executive.uplink(packet)
            executive.commanding.note_link(getattr(link, "kernel_drops", 0))
            result = executive.step([obs])
            obs, _reward, done = world.step(result.action)
            if done:
                episode += 1
                obs = world.reset(seed + episode)
            transmit()
        executive.drain_telecommands()  # commands already taken off the link get their reports
    finally:
        executive.close()  # releases every generated packet to the outbox
        transmit()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return executive.cycle
