"""The write-ahead journal: SQLite (WAL, synchronous=FULL), one row per step *before* it runs.

    migrations(id, created_at, change_path, plan, state, kind, parent, result)
    steps(id, migration, stage, agent, step, phase, data, ts)     phase: intent | done | failed
    decisions(id, migration, stage, agent, data, ts)   the canary judge's, with its numbers

A step's ``intent`` row is committed before its action; ``done`` after.  Resume replays the
steps without ``done`` (every step is idempotent).  One migrate process at a time: an exclusive
``flock`` on JOURNAL.lock, released by the kernel when the process dies (``kill -9`` too).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from typing import Any

from migration.state import Event, State, transition

__all__ = ["Journal", "JournalBusy"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, created_at REAL, change_path TEXT,
  plan TEXT, state TEXT, kind TEXT, parent INTEGER, result TEXT);
CREATE TABLE IF NOT EXISTS steps (id INTEGER PRIMARY KEY, migration INTEGER, stage INTEGER,
  agent TEXT, step TEXT, phase TEXT, data TEXT, ts REAL);
CREATE TABLE IF NOT EXISTS decisions (id INTEGER PRIMARY KEY, migration INTEGER, stage INTEGER,
  agent TEXT, data TEXT, ts REAL);
"""
BUSY_TIMEOUT_S = 5.0


class JournalBusy(RuntimeError):
    """Another migrate process holds the journal."""


class Journal:
    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._lock_fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def lock(self) -> None:
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalBusy(f"another `mesh migrate` holds {self.path}") from None

    def close(self) -> None:
        self.db.close()
        os.close(self._lock_fd)

    # -- migrations --------------------------------------------------------------------------
    def create(self, plan: dict[str, Any], change_path: str, kind: str = "apply",
               parent: int | None = None) -> int:
        cur = self.db.execute(
            "INSERT INTO migrations (created_at, change_path, plan, state, kind, parent, result)"
            " VALUES (?, ?, ?, ?, ?, ?, '{}')",
            (time.time(), change_path, json.dumps(plan), State.PLANNED.value, kind, parent))
        return int(cur.lastrowid or 0)

    def state(self, mid: int) -> State:
        row = self.db.execute("SELECT state FROM migrations WHERE id=?", (mid,)).fetchone()
        if row is None:
            raise KeyError(f"no migration {mid}")
        return State(row[0])

    def move(self, mid: int, event: Event) -> State:
        new = transition(self.state(mid), event)
        self.db.execute("UPDATE migrations SET state=? WHERE id=?", (new.value, mid))
        return new

    def set_result(self, mid: int, **result: Any) -> None:
        merged = {**self.get(mid)["result"], **result}
        self.db.execute("UPDATE migrations SET result=? WHERE id=?", (json.dumps(merged), mid))

    def get(self, mid: int) -> dict[str, Any]:
        row = self.db.execute("SELECT id, created_at, change_path, plan, state, kind, parent,"
                              " result FROM migrations WHERE id=?", (mid,)).fetchone()
        if row is None:
            raise KeyError(f"no migration {mid}")
        return {"id": row[0], "created_at": row[1], "change_path": row[2],
                "plan": json.loads(row[3]), "state": row[4], "kind": row[5],
                "parent": row[6], "result": json.loads(row[7])}

    def history(self) -> list[dict[str, Any]]:
        ids = [r[0] for r in self.db.execute("SELECT id FROM migrations ORDER BY id")]
        return [self.get(i) for i in ids]

    def unfinished(self) -> list[int]:
        rows = self.db.execute("SELECT id FROM migrations WHERE state IN (?, ?) ORDER BY id",
                               (State.RUNNING.value, State.ROLLING_BACK.value))
        return [r[0] for r in rows]

    # -- steps -------------------------------------------------------------------------------
    def record(self, mid: int, stage: int, agent: str, step: str, phase: str,
               data: dict[str, Any] | None = None) -> None:
        self.db.execute("INSERT INTO steps (migration, stage, agent, step, phase, data, ts)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (mid, stage, agent, step, phase, json.dumps(data or {}), time.time()))

    def done(self, mid: int) -> set[tuple[int, str, str]]:
        rows = self.db.execute("SELECT stage, agent, step FROM steps WHERE migration=? AND "
                               "phase='done'", (mid,))
        return {(r[0], r[1], r[2]) for r in rows}

    def steps(self, mid: int) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT stage, agent, step, phase, data, ts FROM steps WHERE "
                               "migration=? ORDER BY id", (mid,))
        return [{"stage": r[0], "agent": r[1], "step": r[2], "phase": r[3],
                 "data": json.loads(r[4]), "ts": r[5]} for r in rows]

    # -- the judge's decisions ---------------------------------------------------------------
    def decide(self, mid: int, stage: int, agent: str, data: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO decisions (migration, stage, agent, data, ts)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (mid, stage, agent, json.dumps(data), time.time()))

    def decisions(self, mid: int, after_id: int = 0) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, stage, agent, data, ts FROM decisions WHERE "
                               "migration=? AND id>? ORDER BY id", (mid, after_id))
        return [{"id": r[0], "stage": r[1], "agent": r[2], **json.loads(r[3]), "ts": r[4]}
                for r in rows]
