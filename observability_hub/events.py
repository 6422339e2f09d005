"""The hub's incident history: an event log in SQLite, bounded by age and rows.

Each hub keeps one (``settings.events_db``, derived by the host plan from the state
folder); events that reach one hub are copied to the other (``events_sync.py``), merged by
event id so that nothing is stored twice.

Reading it -- the stable API for the rest of the hub (SLO report, dashboard timeline)::

    log.query(since=None, until=None, agent=None, host=None, kind=None, limit=1000)
        -> [{id, ts, kind, agent, host, summary, detail, origin}, ...]

the newest ``limit`` events that match, oldest first.  ``since``/``until`` are wall-clock
seconds (``time.time()``); ``kind`` matches the kind itself or any kind below it
(``"process"`` matches ``"process.exited"``).  ``detail`` is a dict (the event's own fields,
e.g. ``{"event": "exited", "pid": 41, "code": -9}``); ``origin`` the hub that stored it first.

The kinds (``KINDS``): ``process.{started,exited,restarted,hung,crash_loop}`` (launchers),
``health`` (an agent's state changed, with reasons), ``alert.{firing,resolved,silenced}``,
``silence``, ``ack``, ``failover`` (a hub's own state changed), ``migration`` (``mesh
migrate``'s steps, sent with ``hub_event``), ``vram`` (evictions: the VRAM pool's
``evictions_total`` gauge grew), ``hub`` (a hub started).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from common.hub.protocol import EVENT_KINDS

__all__ = ["KINDS", "EventLog", "event_id", "make_event"]

log = logging.getLogger(__name__)

KINDS = EVENT_KINDS
QUERY_MAX = 10_000
PRUNE_EVERY = 200  # inserts between two retention passes
_FIELDS = ("id", "ts", "kind", "agent", "host", "summary", "detail", "origin")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE, ts REAL NOT NULL, kind TEXT NOT NULL,
    agent TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '{}',
    origin TEXT NOT NULL DEFAULT '', from_peer INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_agent ON events (agent, ts);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def event_id(*parts: Any) -> str:
    """A stable id from an event's identifying fields: the same launcher event that reaches
    both hubs (or one hub twice) gets the same id, so the merge keeps it once."""
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:20]


def make_event(kind: str, summary: str, *, agent: str = "", host: str = "",
               detail: dict[str, Any] | None = None, ts: float | None = None,
               id: str | None = None) -> dict[str, Any]:  # noqa: A002 - the event's field
    """One event as the log stores it; a fresh random id unless one is given."""
    return {"id": id or uuid.uuid4().hex[:20], "ts": time.time() if ts is None else float(ts),
            "kind": kind, "agent": agent, "host": host, "summary": summary,
            "detail": dict(detail or {})}


class EventLog:
    """One SQLite file (WAL); every method is thread-safe."""

    def __init__(self, path: str | Path, origin: str, *, max_age_s: float = 30 * 86400,
                 max_rows: int = 200_000) -> None:
        self.path = str(path)
        self.origin = origin
        self.max_age_s = max_age_s
        self.max_rows = max_rows
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._inserts = 0
        self.prune()

    # -- writing -----------------------------------------------------------------------------
    def add(self, event: dict[str, Any]) -> bool:
        """Store one event of this hub's own (see make_event); False if its id is known."""
        return self.merge([event], from_peer=False) == 1

    def merge(self, events: Iterable[dict[str, Any]], from_peer: bool) -> int:
        """Store the events whose ids are new; how many were.  Malformed ones are skipped."""
        rows = [row for row in (self._row(e, from_peer) for e in events) if row is not None]
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO events (id, ts, kind, agent, host, summary, detail, "
                "origin, from_peer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
            stored = self._db.total_changes - before
            self._inserts += stored
        if self._inserts >= PRUNE_EVERY:
            self.prune()
        return stored

    def _row(self, e: dict[str, Any], from_peer: bool) -> tuple[Any, ...] | None:
        try:
            detail = e.get("detail") or {}
            if not isinstance(detail, dict):
                raise TypeError("detail is not a map")
            return (str(e["id"]), float(e["ts"]), str(e["kind"]), str(e.get("agent") or ""),
                    str(e.get("host") or ""), str(e.get("summary") or ""),
                    json.dumps(detail, default=str), str(e.get("origin") or self.origin),
                    int(from_peer))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("dropped a malformed event %r: %r", e, exc)
            return None

    def prune(self, now: float | None = None) -> int:
        """Drop events older than max_age_s, then the oldest beyond max_rows; how many."""
        now = time.time() if now is None else now
        with self._lock:
            before = self._db.total_changes
            self._db.execute("DELETE FROM events WHERE ts < ?", (now - self.max_age_s,))
            excess = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0] \
                - self.max_rows
            if excess > 0:  # the oldest go (through the ts index: a few ms at 200 000 rows)
                self._db.execute("DELETE FROM events WHERE seq IN "
                                 "(SELECT seq FROM events ORDER BY ts, seq LIMIT ?)", (excess,))
            self._inserts = 0
            return self._db.total_changes - before

    # -- reading -----------------------------------------------------------------------------
    def query(self, since: float | None = None, until: float | None = None,
              agent: str | None = None, host: str | None = None, kind: str | None = None,
              limit: int = 1000) -> list[dict[str, Any]]:
        """The newest ``limit`` events that match, oldest first (see the module docstring)."""
        where, args = ["1=1"], []
        for clause, value in (("ts >= ?", since), ("ts <= ?", until), ("agent = ?", agent),
                              ("host = ?", host)):
            if value is not None:
                where.append(clause)
                args.append(value)
        if kind:
            where.append("(kind = ? OR kind LIKE ? ESCAPE '\\')")
            args += [kind, kind.replace("\\", "\\\\").replace("%", "\\%")
                     .replace("_", "\\_") + ".%"]
        limit = max(0, min(int(limit), QUERY_MAX))
        sql = (f"SELECT {', '.join(_FIELDS)} FROM events WHERE {' AND '.join(where)} "
               "ORDER BY ts DESC, seq DESC LIMIT ?")
        with self._lock:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        return [self._event(row) for row in reversed(rows)]

    @staticmethod
    def _event(row: tuple[Any, ...]) -> dict[str, Any]:
        event = dict(zip(_FIELDS, row, strict=True))
        event["detail"] = json.loads(event["detail"])
        return event

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # -- what the peer has not seen (events_sync) --------------------------------------------
    def own_after(self, seq: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """This hub's own events (not copies from the peer) stored after seq, as (seq, event)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, {', '.join(_FIELDS)} FROM events WHERE seq > ? AND from_peer = 0 "
                "ORDER BY seq LIMIT ?", (seq, limit)).fetchall()
        return [(row[0], self._event(row[1:])) for row in rows]

    def get_meta(self, key: str, default: str = "") -> str:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()
