"""StoreAgent: a SQLite store (WAL) of text items with search, sliding windows and TTLs.

Items: ``{id, kind, key, session, text, importance, created, expires}``.  Class attributes (or
settings of the same name) shape a store: ``window`` keeps the last N items per session,
evicting the least important first (ContextManager); ``ttl_s_by_kind`` expires items per kind
(CacheManager); ``mirror_to`` writes each item through to another store (ExperienceTracker ->
MemoryOrchestratorService).  The file is ``settings.db_path`` or ``$MESH_STATE_DIR/NAME.db``.

Actions: ``store {text, kind?, key?, session?, importance?, ttl_s?}`` -> ``{id}``;
``get {key}``; ``search {query, kind?, session?, limit?}`` (word overlap x importance);
``recent {session?, limit?}``; ``forget {key}``; ``stats``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from common.base_agent import BadRequest, NotFoundError, handler, require
from common.kinds.base import MeshAgent
from common.kinds.text import overlap_score, tokens

__all__ = ["StoreAgent"]

log = logging.getLogger(__name__)

SCHEMA = """CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT, session TEXT NOT NULL,
    text TEXT NOT NULL, importance REAL NOT NULL, created REAL NOT NULL, expires REAL);
CREATE UNIQUE INDEX IF NOT EXISTS items_key ON items(key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_session ON items(session, created);"""
PURGE_EVERY_S = 1.0
SEARCH_SCAN = 500  # newest candidate rows scored per search
COLUMNS = ("id", "kind", "key", "session", "text", "importance", "created", "expires")


class StoreAgent(MeshAgent):
    tick_interval_s = 1.0  # TTL purge: once a second is plenty
    capabilities = ("store",)
    window: int = 0  # 0: unbounded
    ttl_s_by_kind: dict[str, float] = {}
    default_kind = "memory"
    mirror_to: str = ""

    class Settings(MeshAgent.Settings):
        window: int | None = Field(default=None, ge=0)  # None: the class's own, for each
        ttl_s_by_kind: dict[str, float] | None = None
        mirror_to: str | None = None
        db_path: str | None = None  # None: $MESH_STATE_DIR/NAME.db

    settings: Settings

    def setup_kind(self) -> None:
        s = self.settings
        self.window = self.window if s.window is None else s.window
        self.ttl_s_by_kind = dict(self.ttl_s_by_kind if s.ttl_s_by_kind is None
                                  else s.ttl_s_by_kind)
        self.mirror_to = self.mirror_to if s.mirror_to is None else s.mirror_to
        path = s.db_path or Path(os.environ.get("MESH_STATE_DIR", "state"), f"{self.name}.db")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=1.0, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._purge_at = 0.0

    def stop_kind(self) -> None:
        self.db.close()

    def on_tick(self) -> None:
        now = time.time()
        if now >= self._purge_at:
            self._purge_at = now + PURGE_EVERY_S
            with self.db:
                self.db.execute("DELETE FROM items WHERE expires IS NOT NULL AND expires < ?",
                                (now,))

    @handler("store")
    def store(self, payload: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        text = require(payload, "text", str)
        kind = require(payload, "kind", str, self.default_kind)
        session = require(payload, "session", str, "default")
        importance = float(require(payload, "importance", (int, float), 0.5))
        ttl_s = payload.get("ttl_s", self.ttl_s_by_kind.get(kind))
        now = time.time()
        row = (kind, payload.get("key"), session, text, importance, now,
               now + float(ttl_s) if ttl_s else None)
        with self.db:
            cur = self.db.execute(
                "INSERT INTO items(kind, key, session, text, importance, created, expires) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT(key) WHERE key IS NOT NULL DO UPDATE SET "
                "text=excluded.text, importance=excluded.importance, "
                "created=excluded.created, expires=excluded.expires", row)
            evicted = self._trim(session) if self.window else 0
        hops: list[dict[str, Any]] = []
        if self.mirror_to:
            self.call(self.mirror_to, "store", {"text": text, "kind": kind,
                                                "session": session}, hops, idempotent=False)
        return {"id": cur.lastrowid, "evicted": evicted,
                "hops": [self.my_hop("store", t0), *hops]}

    def _trim(self, session: str) -> int:
        """Keep the window: drop the least important (then oldest) items beyond it."""
        cur = self.db.execute(
            "DELETE FROM items WHERE id IN (SELECT id FROM items WHERE session=? "
            "ORDER BY importance DESC, created DESC LIMIT -1 OFFSET ?)", (session, self.window))
        return cur.rowcount

    @handler("get")
    def get(self, payload: Any) -> dict[str, Any]:
        key = require(payload, "key", str)
        row = self.db.execute("SELECT * FROM items WHERE key=? AND (expires IS NULL OR "
                              "expires >= ?)", (key, time.time())).fetchone()
        if row is None:
            raise NotFoundError(self.name, "get", "not_found", f"no item with key {key!r}")
        return dict(zip(COLUMNS, row, strict=True))

    @handler("search")
    def search(self, payload: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        query = tokens(require(payload, "query", str))
        limit = int(require(payload, "limit", int, 5))
        if not 0 < limit <= 100:
            raise BadRequest("payload.limit must be 1..100")
        sql, args = "SELECT * FROM items WHERE (expires IS NULL OR expires >= ?)", [time.time()]
        for field in ("kind", "session"):
            if payload.get(field):
                sql += f" AND {field}=?"
                args.append(payload[field])
        rows = self.db.execute(sql + " ORDER BY created DESC LIMIT ?",
                               (*args, SEARCH_SCAN)).fetchall()
        scored = sorted(((overlap_score(query, r[4]) * (0.5 + r[5]), r) for r in rows),
                        key=lambda x: -x[0])
        hits = [{**dict(zip(COLUMNS, r, strict=True)), "score": round(s, 3)}
                for s, r in scored[:limit] if s > 0]
        return {"hits": hits, "scanned": len(rows), "hops": [self.my_hop("search", t0)]}

    @handler("recent")
    def recent(self, payload: Any = None) -> dict[str, Any]:
        payload = payload or {}
        session = require(payload, "session", str, "default")
        limit = int(require(payload, "limit", int, 10))
        rows = self.db.execute("SELECT * FROM items WHERE session=? ORDER BY created DESC "
                               "LIMIT ?", (session, limit)).fetchall()
        return {"items": [dict(zip(COLUMNS, r, strict=True)) for r in rows]}

    @handler("forget")
    def forget(self, payload: Any) -> dict[str, int]:
        with self.db:
            cur = self.db.execute("DELETE FROM items WHERE key=?", (require(payload, "key", str),))
        return {"deleted": cur.rowcount}

    @handler("stats")
    def stats(self, payload: Any = None) -> dict[str, Any]:
        rows = self.db.execute("SELECT kind, COUNT(*) FROM items GROUP BY kind").fetchall()
        return {"items_by_kind": dict(rows), "window": self.window,
                "ttl_s_by_kind": self.ttl_s_by_kind}
