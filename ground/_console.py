"""`ground console`: telemetry in over UDP, history in SQLite, Open MCT in the browser, commanding.

One asyncio loop (aiohttp: HTTP, WebSocket and static files in one well-kept library) holds:
- the telemetry endpoint on --tm-port: every datagram is decoded with flight's definitions;
  a malformed or truncated one is counted and dropped, nothing stops;
- the history store (SQLite file, flushed every 0.2 s, retention pruned every minute);
- realtime: each WebSocket client subscribes to keys and gets every new value of them;
- history: GET /api/history/{key}?start&end[&strategy=latest], answered from the index;
- commanding: POST /api/command with the token given at start; telecommands leave from the
  telemetry socket, so their verification reports come back in the stream and are matched by
  request id. Every attempt is logged with the operator's name and the remote address."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import sqlite3
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSCloseCode, WSMsgType, web

from flight import CommandCode, PacketError, RejectReason, TmType, decode_tm, decode_verification, encode_command

from ._console_dictionary import VERIFICATION_TYPES, dictionary, samples
from ._console_store import HistoryStore, command_log, query_json

STATIC = Path(__file__).with_name("console_static")
OPENMCT_DIST = STATIC / "node_modules" / "openmct" / "dist"
CONSOLE_COMMANDS = ("NOOP", "SCRUB_NOW", "SET_MODE", "SET_SCRUB_BUDGET", "ACTIVATE_SLOT", "ROLLBACK")
FLUSH_S = 0.2
PRUNE_S = 60.0


def hazardous(name: str, args: tuple[int, ...]) -> bool:
    """Commands the UI confirms first and the server refuses without `confirm`."""
    from flight import Mode

    return name in ("ACTIVATE_SLOT", "ROLLBACK") or (name == "SET_MODE" and args == (Mode.SAFE.value,))


@dataclass
class ConsoleStats:
    datagrams: int = 0
    packets: int = 0
    malformed: int = 0
    sequence_gaps: int = 0  # telemetry packets missing by the CCSDS sequence count
    housekeeping: int = 0
    last_cycle: int = -1
    commands_sent: int = 0
    commands_refused: int = 0
    store_errors: int = 0  # batches the database refused (e.g. disk full); the receiver keeps going


@dataclass
class Console:
    db_path: Path
    host: str = "127.0.0.1"
    tc_port: int = 10025
    tm_port: int = 10026
    token: str | None = None
    retention_hours: float = 24.0
    replicas: int = 3
    command_timeout: float = 5.0
    campaigns: Path | None = None  # a folder of `fault-inject campaign --report DIR` folders
    stats: ConsoleStats = field(default_factory=ConsoleStats)

    def __post_init__(self):
        self.store = HistoryStore(self.db_path, self.retention_hours)
        self.clients: dict[web.WebSocketResponse, set[str]] = {}
        self.pending: dict[bytes, asyncio.Future] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self._last_seq: int | None = None
        self._seq = (os.getpid() + int(time.monotonic() * 1000)) & 0x3FFF
        self.dictionary = dictionary(self.replicas)

    # --- telemetry ---------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        self.stats.datagrams += 1
        try:
            tm = decode_tm(data)
            values = samples(tm)
        except (PacketError, ValueError, struct.error):  # a bad packet is counted; nothing stops
            self.stats.malformed += 1
            return
        self.stats.packets += 1
        if self._last_seq is not None:
            self.stats.sequence_gaps += (tm.seq_count - self._last_seq - 1) & 0x3FFF
        self._last_seq = tm.seq_count
        if tm.type is TmType.HOUSEKEEPING:
            self.stats.housekeeping += 1
            self.stats.last_cycle = tm.cycle
        if tm.type in VERIFICATION_TYPES:
            self._verification(tm)
        if not values:
            return
        now = int(time.time() * 1000)
        for key, value in values:
            self.store.add(key, now, tm.cycle, value)
        self._broadcast(now, tm.cycle, values)

    def _verification(self, tm) -> None:
        rid, reason, detail = decode_verification(tm.data)
        future = self.pending.get(rid)
        if future is None or future.done():
            return
        if tm.type is TmType.ACCEPTED:
            future.accepted = True  # type: ignore[attr-defined]
            return
        name = RejectReason(reason).name if reason in RejectReason._value2member_map_ else (str(reason) if reason else "")
        future.set_result({"accepted": tm.type is not TmType.REJECTED, "completed": tm.type is TmType.COMPLETED,
                           "reason": name, "detail": detail, "cycle": tm.cycle, "report": tm.type.name})

    def _broadcast(self, t: int, cycle: int, values) -> None:
        for ws, keys in list(self.clients.items()):
            batch = [{"key": k, "timestamp": t, "cycle": cycle, "value": v} for k, v in values if k in keys]
            if batch and not ws.closed:
                asyncio.ensure_future(self._send(ws, batch))

    @staticmethod
    async def _send(ws: web.WebSocketResponse, batch) -> None:
        try:
            await ws.send_str(json.dumps(batch))
        except (ConnectionError, RuntimeError):
            pass  # the client went away; its handler removes it

    async def _housekeeping_loop(self) -> None:
        last_prune = 0.0
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                self.store.flush()
                if time.monotonic() - last_prune > PRUNE_S:
                    last_prune = time.monotonic()
                    self.store.prune()
            except sqlite3.Error as exc:
                self.stats.store_errors += 1
                print(f"ground console: history not stored ({exc})", file=sys.stderr, flush=True)

    # --- commanding --------------------------------------------------------------------------

    async def command(self, name: str, args: tuple[int, ...]) -> dict:
        code = CommandCode[name]
        self._seq = (self._seq + 1) & 0x3FFF
        packet = encode_command(code, args, self._seq)
        rid = packet[:4]
        future = asyncio.get_running_loop().create_future()
        future.accepted = False  # type: ignore[attr-defined]
        self.pending[rid] = future
        self.transport.sendto(packet, (self.host, self.tc_port))
        self.stats.commands_sent += 1
        try:
            return {"command": name, "args": list(args),
                    **await asyncio.wait_for(asyncio.shield(future), self.command_timeout)}
        except asyncio.TimeoutError:
            return {"command": name, "args": list(args), "accepted": future.accepted, "completed": False,
                    "reason": "TIMEOUT", "detail": f"no report within {self.command_timeout:g} s", "cycle": -1,
                    "report": ""}
        finally:
            self.pending.pop(rid, None)

    # --- HTTP --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/api/dictionary", self.get_dictionary)
        app.router.add_get("/api/history/{key}", self.get_history)
        app.router.add_get("/api/status", self.get_status)
        app.router.add_get("/api/commands", self.get_commands)
        app.router.add_post("/api/command", self.post_command)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/api/campaigns", self.get_campaigns)
        app.router.add_get("/campaigns/{name}/{file}", self.get_campaign_file)
        app.router.add_static("/openmct/", OPENMCT_DIST)
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._close_clients)  # before the server waits for open handlers
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app) -> None:
        loop = asyncio.get_running_loop()
        console = self

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                console.receive(data)

            def error_received(self, exc):  # e.g. ICMP unreachable after a command: keep going
                pass

        self.transport, _ = await loop.create_datagram_endpoint(Protocol, local_addr=(self.host, self.tm_port))
        self._tasks = [asyncio.ensure_future(self._housekeeping_loop())]

    async def _close_clients(self, app) -> None:
        for ws in list(self.clients):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"console stopping")

    async def _stop(self, app) -> None:
        for task in self._tasks:
            task.cancel()
        if self.transport is not None:
            self.transport.close()
        self.store.close()

    async def index(self, request):
        return web.FileResponse(STATIC / "index.html")

    async def get_dictionary(self, request):
        return web.json_response({"measurements": self.dictionary, "commands": list(CONSOLE_COMMANDS),
                                  "commanding": self.token is not None})

    async def get_status(self, request):
        return web.json_response({**self.stats.__dict__, "rows_written": self.store.rows_written,
                                  "clients": len(self.clients)})

    async def get_commands(self, request):
        self.store.flush()
        return web.json_response(await asyncio.to_thread(command_log, self.db_path))

    async def get_history(self, request):
        key = request.match_info["key"]
        if key not in {m["key"] for m in self.dictionary}:
            return web.json_response({"error": f"unknown key {key!r}"}, status=404)
        try:
            end = int(float(request.query.get("end", time.time() * 1000)))
            start = int(float(request.query.get("start", 0)))
            limit = int(request.query.get("size", 1_000_000))
        except ValueError:
            return web.json_response({"error": "start, end and size are numbers (ms since the epoch)"}, status=400)
        latest = request.query.get("strategy") == "latest"
        self.store.flush()  # what arrived is queryable at once
        text = await asyncio.to_thread(query_json, self.db_path, key, start, end, latest, limit)
        return web.Response(text=text, content_type="application/json")

    # --- campaign reports ----------------------------------------------------------------------

    def _campaign_dirs(self) -> list[Path]:
        if self.campaigns is None or not self.campaigns.is_dir():
            return []
        found = [d for d in self.campaigns.iterdir()
                 if d.is_dir() and ((d / "summary.json").is_file() or (d / "report.md").is_file())]
        return sorted(found, key=lambda d: d.stat().st_mtime, reverse=True)

    async def get_campaigns(self, request):
        return web.json_response([
            {"name": d.name, "modified": int(d.stat().st_mtime * 1000), "report": (d / "report.md").is_file(),
             "summary": (d / "summary.json").is_file(), "plots": sorted(p.name for p in d.glob("*.png"))}
            for d in self._campaign_dirs()])

    async def get_campaign_file(self, request):
        """One file of one report folder: names only (no paths), and only what a report holds."""
        name, file = request.match_info["name"], request.match_info["file"]
        folders = {d.name: d for d in self._campaign_dirs()}
        if name not in folders or "/" in file or file.startswith(".") or Path(file).suffix not in (".png", ".md", ".json"):
            return web.json_response({"error": "no such campaign report file"}, status=404)
        path = folders[name] / file
        if not path.is_file():
            return web.json_response({"error": "no such campaign report file"}, status=404)
        return web.FileResponse(path)

    async def post_command(self, request):
        try:
            body = await request.json()
            name = str(body["command"]).upper()
            words = [str(w) for w in body.get("args", [])]
            operator = str(body.get("operator") or "").strip()[:64]
        except (ValueError, KeyError, TypeError, AttributeError):
            return web.json_response({"error": "expected JSON {command, args, operator}"}, status=400)
        remote = request.remote or "?"
        supplied = request.headers.get("X-Seuguard-Token", "")

        def refuse(status: int, reason: str):
            self.stats.commands_refused += 1
            self.store.log_command(operator or "?", remote, name, words, {"refused": reason})
            return web.json_response({"error": reason}, status=status)

        if self.token is None:
            return refuse(403, "commanding disabled: the console was started without --token")
        if not hmac.compare_digest(supplied.encode(), self.token.encode()):
            return refuse(403, "wrong token")
        if not operator:
            return refuse(400, "operator name required")
        if name not in CONSOLE_COMMANDS:
            return refuse(400, f"{name} is not a console command (one of {', '.join(CONSOLE_COMMANDS)})")
        from ._cli import _command_args

        try:
            args = _command_args(CommandCode[name], words)
        except ValueError as exc:
            return refuse(400, str(exc))
        if hazardous(name, args) and body.get("confirm") is not True:
            return refuse(409, f"{name} {' '.join(words)} is hazardous: confirm it".replace("  ", " "))
        outcome = await self.command(name, args)
        self.store.log_command(operator, remote, name, words, outcome)
        print(f"ground console: {operator}@{remote} sent {name} {' '.join(words)} -> "
              f"{'completed' if outcome['completed'] else outcome['reason']}", file=sys.stderr, flush=True)
        return web.json_response(outcome)

    async def websocket(self, request):
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        keys: set[str] = set()
        self.clients[ws] = keys
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                    (keys.add if req.get("subscribe") else keys.discard)(str(req.get("subscribe") or req.get("unsubscribe")))
                except (ValueError, AttributeError):
                    continue  # a bad message from a client is ignored, the socket stays
        finally:
            self.clients.pop(ws, None)
        return ws


async def run_console(console: Console, http_host: str, http_port: int, ready=None, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or forever); `ready(port)` is called once listening."""
    runner = web.AppRunner(console.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, http_host, http_port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # the port chosen when asked for 0
    if ready is not None:
        ready(port)
    try:
        await (stop.wait() if stop is not None else asyncio.Event().wait())
    finally:
        await runner.cleanup()
