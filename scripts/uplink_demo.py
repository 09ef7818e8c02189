"""`make uplink-demo`: a model patch uplinked to a flying lander over a lossy link, verified, activated.

1. A model store with lander-discrete in slot A; a ground key pair; a signed delta patch from
   lander-discrete to the fine-tuned lander-discrete-ft (models/build_patch_demo.py).
2. `flight serve --store ... --uplink-key ...` flies the lander in real time.
3. `ground uplink PATCH --link loss=0.1,ber=1e-6` sends it as CFDP Class 2 over CCSDS packets.
4. The flight verifies it (signature, spacecraft, sequence, base, result, CRCs, golden vectors) a
   budget per frame and stages it in slot B; `ground command ACTIVATE_SLOT 1` switches at a frame
   boundary. Housekeeping shows each step. Exit 0 only if the new model flies in slot B.

    python scripts/uplink_demo.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flight import Housekeeping, TmType, decode_event, decode_tm  # noqa: E402


def free_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def run(*cmd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", *cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"uplink-demo: {' '.join(cmd[:3])} failed: {result.stderr.strip().splitlines()[-1:]}")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the story")
    ap.add_argument("--link", default="loss=0.1,ber=1e-6", help="simulated link (default loss=0.1,ber=1e-6)")
    args = ap.parse_args()
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    work = Path(tempfile.mkdtemp(prefix="uplink-demo-"))
    tc_port, tm_port = free_ports(2)
    tm = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tm.bind(("127.0.0.1", tm_port))
    tm.settimeout(0.2)
    flight = None
    try:
        store = work / "store"
        shutil.copytree(ROOT / "models" / "lander-discrete", store / "A")
        run("ground", "keygen", "-o", str(work / "ground.key"))
        built = json.loads(run("ground", "patch", "build", "--base", "models/lander-discrete", "--new",
                               "models/lander-discrete-ft", "--key", str(work / "ground.key"), "--seq", "1",
                               "--spacecraft", "7", "-o", str(work / "ft.patch"), "--json").stdout)
        say(f"patch: {built['kind']}, {built['patch_bytes']:,} bytes for a {built['model_bytes']:,}-byte model "
            f"({built['changed_elements']} elements changed)")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        flight = subprocess.Popen([sys.executable, "-m", "flight", "serve", "--store", str(store), "--uplink-key",
                                   str(work / "ground.key.pub"), "--spacecraft", "7", "--tc-port", str(tc_port),
                                   "--tm-port", str(tm_port)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        events: list[str] = []
        last: dict = {}

        def listen(seconds: float, until=lambda hk: False) -> dict:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    packet = decode_tm(tm.recv(65535))
                except socket.timeout:
                    continue
                if packet.type is TmType.HOUSEKEEPING:
                    last.update(vars(Housekeeping.unpack(packet.data)))
                    if until(last):
                        return last
                elif packet.type.name.startswith("EVENT"):
                    event_id, text = decode_event(packet.data)
                    events.append(text)
            raise SystemExit(f"uplink-demo: gave up waiting; last housekeeping {last}")

        listen(30, lambda hk: hk["mode"] == 0)
        say(f"flight: NOMINAL on slot {'AB'[last['active_slot']]}, cycle {last['cycle']}")
        t0 = time.monotonic()
        sent = json.loads(run("ground", "uplink", str(work / "ft.patch"), "--tc-port", str(tc_port), "--link",
                              args.link, "--ack-interval", "0.3", "--json").stdout)
        say(f"uplink over {args.link}: delivered={sent['delivered']}, {sent['bytes_on_link']:,} bytes on the link, "
            f"{sent['retransmissions']} retransmissions, {sent['seconds']:.1f} s")
        listen(60, lambda hk: hk["uplink_state"] in (2, 3))
        if last["uplink_state"] != 2:
            raise SystemExit(f"uplink-demo: the flight refused the patch: {[e for e in events if 'refused' in e]}")
        say(f"flight: patch verified and staged in slot {'AB'[last['uplink_staged_slot']]}, "
            f"sequence {last['uplink_highest_sequence']}")
        run("ground", "command", "ACTIVATE_SLOT", "1", "--tc-port", str(tc_port), "--timeout", "60")
        listen(60, lambda hk: hk["active_slot"] == 1 and hk["mode"] == 0)
        say(f"flight: slot B active, NOMINAL, cycle {last['cycle']} ({time.monotonic() - t0:.1f} s after the uplink began)")
        for text in events:
            if "slot B" in text or "patch" in text or "uplink" in text.lower():
                say(f"  event: {text}")
        if args.json:
            print(json.dumps({"patch": built, "uplink": sent, "housekeeping": last}))
        return 0
    finally:
        if flight is not None:
            flight.send_signal(signal.SIGTERM)
            try:
                flight.wait(30)
            except subprocess.TimeoutExpired:
                flight.kill()
        tm.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
