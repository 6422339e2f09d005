"""The chaos soak's migration workload, and the check that its journal lost nothing.

Every ``every_s`` a harmless change to one MainPC leaf agent (its ``call_timeout_s``, 2.5 s
and 2.0 s in turn: a setting its kind takes, so the new instance starts and is judged) is
applied blue/green by the migration executor (benchmarks/migration_driver:
the library behind ``mesh migrate apply``, in this process), while the faults go on: a fault
may roll it back, which is fine.  A migration left running or rolling back is resumed, as an
operator would.  After each one the journal's rows are noted; at the end a fresh read-only
connection must find every noted step row unchanged (steps are insert-only) and every noted
migration, with none left unfinished.  The soak never injects faults into this agent itself,
so a rollback is the executor's doing, not an agent fault's.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from chaos_mesh import SoakMesh
from migration_driver import Migrator

from migration import Executor, MeshControl
from migration.state import State

__all__ = ["MigrationWorkload"]

# a loaded 2-core machine: latency noise must not read as a regression (the change is none)
GATES = {"error_rate_max": 0.2, "latency_p95_ratio_max": 10.0, "latency_floor_ms": 200,
         "ready_timeout_s": 30}
BAKE_S = 2.0
CALL_TIMEOUTS_S = (2.0, 2.5)  # generation 1 gets 2.5 s (the kind's default is 2.0 s)


class MigrationWorkload:
    def __init__(self, mesh: SoakMesh, agent: str, every_s: float) -> None:
        self.mesh, self.agent, self.every_s = mesh, agent, every_s
        self.path = Path(mesh.run_dir) / "migrations.db"
        self.states: Counter[str] = Counter()
        self.errors: list[str] = []
        self.steps: dict[int, str] = {}  # step row id -> digest of the row
        self.migrations: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-migrate", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 120.0) -> None:
        """Start no new migration; wait for the one under way (its bake and gates bound it)."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        migrator = Migrator(self.mesh.config_path, self.mesh.run_dir)
        try:
            generation = 0
            while not self._stop.wait(self.every_s):  # the workload's pace
                generation += 1
                self._one(migrator, generation)
                self._note()
        finally:
            migrator.close()

    def _one(self, migrator: Migrator, generation: int) -> None:
        change = [{"agent": self.agent, "settings": {"call_timeout_s": CALL_TIMEOUTS_S[
                       generation % len(CALL_TIMEOUTS_S)]},
                   "bake_s": BAKE_S, "gates": GATES}]
        try:
            record = migrator.apply(change, f"chaos generation {generation}")
            self.states[record["state"]] += 1
            for mid in migrator.journal.unfinished():
                self.states["resumed:" + _resume(migrator, mid)] += 1
        except Exception as exc:  # reported in the results, never hidden
            self.errors.append(f"generation {generation}: {exc!r}")

    def _note(self) -> None:
        for row in self._rows(self._read()):
            self.steps[row[0]] = _digest(row)
        self.migrations |= self._ids(self._read())

    def _read(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0)

    @staticmethod
    def _rows(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
        with db:
            rows = db.execute("SELECT id, migration, stage, agent, step, phase, data, ts "
                              "FROM steps").fetchall()
        db.close()
        return rows

    @staticmethod
    def _ids(db: sqlite3.Connection) -> set[int]:
        with db:
            ids = {r[0] for r in db.execute("SELECT id FROM migrations")}
        db.close()
        return ids

    def check(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"migrations": 0, "entries_written": 0, "entries_lost": 0,
                    "unfinished": 0, "states": {}, "errors": self.errors}
        found = {row[0]: _digest(row) for row in self._rows(self._read())}
        lost_steps = [i for i, digest in self.steps.items() if found.get(i) != digest]
        ids = self._ids(self._read())
        db = self._read()
        with db:
            unfinished = db.execute("SELECT COUNT(*) FROM migrations WHERE state IN (?, ?)",
                                    (State.RUNNING.value, State.ROLLING_BACK.value)).fetchone()[0]
        db.close()
        return {"agent": self.agent, "migrations": len(ids), "states": dict(self.states),
                "entries_written": len(self.steps) + len(self.migrations),
                "entries_lost": len(lost_steps) + len(self.migrations - ids),
                "unfinished": unfinished, "errors": self.errors}


def _resume(migrator: Migrator, mid: int) -> str:
    """`mesh migrate resume ID`, in this process."""
    mesh = MeshControl(migrator.config, migrator.run_dir)
    try:
        return Executor(migrator.journal, mesh, migrator.lines.append).resume(mid).value
    finally:
        mesh.close()


def _digest(row: tuple[Any, ...]) -> str:
    return hashlib.sha256(repr(row).encode()).hexdigest()
