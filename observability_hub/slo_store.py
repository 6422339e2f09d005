"""The SLI history on disk: SQLite (WAL), written once a minute, so a restarted hub keeps its
window.  Compact by construction:

- ``sli_minute``: one row per SLO and minute (good, total), kept for the longest burn window
  (3 d): what the burn-rate alerts read;
- ``sli_hour``: one row per SLO, agent and hour, kept for the SLO's window: what the report
  reads (per agent and host);
- ``slo_incident``: one row per incident (a run of minutes burning at the paging rate);
- ``sli_baseline``: each agent's counters as last sampled, saved with each closed minute, so
  that a restarted hub counts what the agents served while it was away.

``path`` None keeps all of it in memory (a hub run alone).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["SliStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sli_minute (slo TEXT, minute INTEGER, good REAL, total REAL,
    PRIMARY KEY (slo, minute)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sli_hour (slo TEXT, agent TEXT, hour INTEGER, good REAL, total REAL,
    PRIMARY KEY (slo, agent, hour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sli_baseline (agent TEXT PRIMARY KEY, instance TEXT,
    counters TEXT);
CREATE TABLE IF NOT EXISTS slo_incident (slo TEXT, agent TEXT, start INTEGER, end INTEGER,
    bad REAL, total REAL, open INTEGER, PRIMARY KEY (slo, agent, start)) WITHOUT ROWID;
"""
BUSY_TIMEOUT_S = 5.0


class SliStore:
    def __init__(self, path: str | None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path or ":memory:", timeout=BUSY_TIMEOUT_S,
                                  check_same_thread=False, isolation_level=None)
        if path is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def write_minute(self, minute: int, totals: dict[str, tuple[float, float]],
                     by_agent: dict[tuple[str, str], tuple[float, float]],
                     incidents: Iterable[dict[str, Any]]) -> None:
        """One closed minute, in one transaction: per-SLO totals, per-agent hour sums, and
        the incidents that opened, grew or closed."""
        hour = minute - minute % 3600
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO sli_minute VALUES (?, ?, ?, ?) ON CONFLICT (slo, minute) "
                "DO UPDATE SET good = good + excluded.good, total = total + excluded.total",
                [(slo, minute, g, t) for slo, (g, t) in totals.items()])
            self.db.executemany(
                "INSERT INTO sli_hour VALUES (?, ?, ?, ?, ?) ON CONFLICT (slo, agent, hour) "
                "DO UPDATE SET good = good + excluded.good, total = total + excluded.total",
                [(slo, agent, hour, g, t) for (slo, agent), (g, t) in by_agent.items()])
            self.db.executemany(
                "INSERT OR REPLACE INTO slo_incident VALUES (:slo, :agent, :start, :end, :bad, "
                ":total, :open)", list(incidents))

    def prune(self, now: float, minutes_s: int, windows_s: dict[str, int]) -> None:
        with self.db:
            self.db.execute("DELETE FROM sli_minute WHERE minute < ?", (now - minutes_s,))
            for slo, window in windows_s.items():
                self.db.execute("DELETE FROM sli_hour WHERE slo = ? AND hour < ?",
                                (slo, now - window - 3600))
                self.db.execute("DELETE FROM slo_incident WHERE slo = ? AND end < ?",
                                (slo, now - window))

    def save_baselines(self, last: dict[str, tuple[str, dict[str, float]]]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM sli_baseline")
            self.db.executemany("INSERT INTO sli_baseline VALUES (?, ?, ?)",
                                [(a, i, json.dumps(c)) for a, (i, c) in last.items()])

    def baselines(self) -> dict[str, tuple[str, dict[str, float]]]:
        rows = self.db.execute("SELECT agent, instance, counters FROM sli_baseline").fetchall()
        return {a: (i, json.loads(c)) for a, i, c in rows}

    def minutes(self, since: float) -> list[tuple[str, int, float, float]]:
        return self.db.execute("SELECT slo, minute, good, total FROM sli_minute WHERE minute >= "
                               "? ORDER BY minute", (since,)).fetchall()

    def hours(self, slo: str, since: float) -> list[tuple[str, float, float]]:
        """(agent, good, total) summed over the hours from ``since`` on."""
        return self.db.execute("SELECT agent, SUM(good), SUM(total) FROM sli_hour WHERE slo = ? "
                               "AND hour >= ? GROUP BY agent ORDER BY agent",
                               (slo, since)).fetchall()

    def incidents(self, slo: str, since: float) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT agent, start, end, bad, total, open FROM slo_incident "
                               "WHERE slo = ? AND end >= ? ORDER BY start, agent",
                               (slo, since)).fetchall()
        return [{"agent": a, "start": s, "end": e, "bad": b, "total": t, "open": bool(o)}
                for a, s, e, b, t, o in rows]

    def open_incidents(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT slo, agent, start, end, bad, total FROM slo_incident "
                               "WHERE open = 1").fetchall()
        return [{"slo": slo, "agent": a, "start": s, "end": e, "bad": b, "total": t, "open": 1}
                for slo, a, s, e, b, t in rows]
