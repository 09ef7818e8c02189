"""The console's telemetry history: SQLite on disk, one row per value, indexed by (key, time).

One table of samples (key, ground time in ms, cycle, value) answers Open MCT's per-key range
queries from the index alone; SQLite builds the JSON of a reply itself (json_group_array), so a
24-hour query costs little more than the SELECT. WAL lets HTTP queries read (each on a connection
of its own, in a worker thread) while the receiver writes. Commands sent are logged in a table too."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (key TEXT NOT NULL, t INTEGER NOT NULL, cycle INTEGER NOT NULL, value);
CREATE INDEX IF NOT EXISTS samples_key_t ON samples (key, t);
CREATE INDEX IF NOT EXISTS samples_t ON samples (t);
CREATE TABLE IF NOT EXISTS commands (t INTEGER NOT NULL, operator TEXT NOT NULL, remote TEXT NOT NULL,
    name TEXT NOT NULL, args TEXT NOT NULL, outcome TEXT NOT NULL);
"""

_RANGE = ("SELECT json_group_array(json_object('timestamp', t, 'cycle', cycle, 'value', value)) FROM "
          "(SELECT t, cycle, value FROM samples WHERE key = ? AND t >= ? AND t <= ? ORDER BY t LIMIT ?)")
_LATEST = ("SELECT json_group_array(json_object('timestamp', t, 'cycle', cycle, 'value', value)) FROM "
           "(SELECT t, cycle, value FROM samples WHERE key = ? AND t <= ? ORDER BY t DESC LIMIT 1)")


_INT64 = (-(1 << 63), (1 << 63) - 1)


def _fit(value):
    """SQLite integers are signed 64-bit: a u64 above that (a cycle counter, a garbled but
    CRC-valid packet) is stored as a float rather than failing the whole batch."""
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        return float(value)
    return value


class HistoryStore:
    """Writer side (the receiver's thread); `query` opens a reader connection per call."""

    def __init__(self, path: Path, retention_hours: float = 24.0):
        self.path = Path(path)
        self.retention_ms = int(retention_hours * 3_600_000)
        self.db = sqlite3.connect(self.path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.pending: list[tuple[str, int, int, object]] = []
        self.rows_written = 0

    def add(self, key: str, t_ms: int, cycle: int, value) -> None:
        self.pending.append((key, t_ms, _fit(cycle), _fit(value)))

    def flush(self) -> int:
        """Write what arrived since the last flush in one transaction; return the rows written."""
        rows, self.pending = self.pending, []
        if rows:
            with self.db:
                self.db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", rows)
            self.rows_written += len(rows)
        return len(rows)

    def prune(self, now_ms: int | None = None) -> int:
        """Delete samples older than the retention; return how many."""
        cutoff = (now_ms if now_ms is not None else int(time.time() * 1000)) - self.retention_ms
        with self.db:
            return self.db.execute("DELETE FROM samples WHERE t < ?", (cutoff,)).rowcount

    def log_command(self, operator: str, remote: str, name: str, args, outcome: dict) -> None:
        with self.db:
            self.db.execute("INSERT INTO commands VALUES (?, ?, ?, ?, ?, ?)",
                            (int(time.time() * 1000), operator, remote, name, json.dumps(list(args)),
                             json.dumps(outcome)))

    def close(self) -> None:
        self.flush()
        self.db.close()


def reader(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)


def query_json(path: Path, key: str, start: int, end: int, latest: bool = False, limit: int = 1_000_000) -> str:
    """The samples of `key` in [start, end] ms as a JSON array text (built by SQLite); with
    `latest`, only the newest at or before `end` (Open MCT's 'latest' strategy)."""
    db = reader(path)
    try:
        if latest:
            (text,) = db.execute(_LATEST, (key, end)).fetchone()
        else:
            (text,) = db.execute(_RANGE, (key, start, end, limit)).fetchone()
    finally:
        db.close()
    return text or "[]"


def command_log(path: Path, limit: int = 100) -> list[dict]:
    db = reader(path)
    try:
        rows = db.execute("SELECT t, operator, remote, name, args, outcome FROM commands ORDER BY rowid DESC LIMIT ?",
                          (limit,)).fetchall()
    finally:
        db.close()
    return [{"timestamp": t, "operator": op, "remote": remote, "name": name, "args": json.loads(args),
             "outcome": json.loads(outcome)} for t, op, remote, name, args, outcome in rows]
