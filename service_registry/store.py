"""Registry persistence behind a small ``RegistryBackend`` protocol; SQLite (WAL) by default.

Every change is written, with the sequence number it got, in one transaction before it is
published, so a ``kill -9`` of the registry loses no registration.  Heartbeats are not written:
after a restart every stored instance gets a full TTL to heartbeat again.  A mesh that outgrows
two hosts would implement this protocol on etcd (leases for TTLs, watches for events).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["AdmissionStore", "RegistryBackend", "SqliteBackend"]


class RegistryBackend(Protocol):
    def load(self) -> tuple[int, list[dict[str, Any]]]: ...

    def apply(self, seq: int, op: str, record: dict[str, Any]) -> None: ...


@runtime_checkable
class AdmissionStore(Protocol):
    """A backend that also keeps blue/green admissions and can be replaced whole (the
    passive registry of a pair writes its mirror so)."""

    def load_admitted(self) -> dict[str, list[str]]: ...

    def save_admitted(self, seq: int, admitted: dict[str, list[str]]) -> None: ...

    def replace(self, seq: int, records: list[dict[str, Any]],
                admitted: dict[str, list[str]]) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (instance_id TEXT PRIMARY KEY, name TEXT NOT NULL,
                                      record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS admitted (name TEXT PRIMARY KEY, endpoints TEXT NOT NULL);
"""


class SqliteBackend:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # durable against a process crash
        self._db.executescript(_SCHEMA)

    def load(self) -> tuple[int, list[dict[str, Any]]]:
        row = self._db.execute("SELECT value FROM meta WHERE key='seq'").fetchone()
        records = [json.loads(r[0]) for r in self._db.execute("SELECT record FROM instances")]
        return (row[0] if row else 0), records

    def apply(self, seq: int, op: str, record: dict[str, Any]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            if op in ("register", "update"):
                self._db.execute("INSERT OR REPLACE INTO instances VALUES (?, ?, ?)",
                                 (record["instance_id"], record["name"], json.dumps(record)))
            else:
                self._db.execute("DELETE FROM instances WHERE instance_id=?",
                                 (record["instance_id"],))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (seq,))

    def load_admitted(self) -> dict[str, list[str]]:
        return {name: json.loads(eps) for name, eps in
                self._db.execute("SELECT name, endpoints FROM admitted")}

    def save_admitted(self, seq: int, admitted: dict[str, list[str]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._save_admitted(seq, admitted)

    def replace(self, seq: int, records: list[dict[str, Any]],
                admitted: dict[str, list[str]]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM instances")
            self._db.executemany("INSERT INTO instances VALUES (?, ?, ?)",
                                 [(r["instance_id"], r["name"], json.dumps(r)) for r in records])
            self._save_admitted(seq, admitted)

    def _save_admitted(self, seq: int, admitted: dict[str, list[str]]) -> None:
        self._db.execute("DELETE FROM admitted")
        self._db.executemany("INSERT INTO admitted VALUES (?, ?)",
                             [(name, json.dumps(sorted(eps))) for name, eps in admitted.items()])
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (seq,))

    def close(self) -> None:
        self._db.close()
