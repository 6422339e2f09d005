"""`mesh migrate apply` / `rollback` driven in-process for benchmarks/migration.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common.config import load_config
from common.testing.migrate import PROBE
from migration import (
    Executor,
    Journal,
    MeshControl,
    build_plan,
    current_definitions,
    load_weights,
    parse_change,
)
from migration.gates import measure_p95_s

__all__ = ["Migrator"]


class Migrator:
    """`mesh migrate apply` / `rollback` in this process, against one journal.  Each call gets
    a fresh MeshControl, as each CLI run does: a long-lived client's socket to the new
    instance's port would carry zmq's reconnect backoff from the last trial into the next."""

    def __init__(self, config_path: Path, run_dir: str) -> None:
        self.config = load_config(config_path)
        self.run_dir = run_dir
        self.journal = Journal(os.path.join(run_dir, "migrations.db"))
        self.journal.lock()
        self.lines: list[str] = []

    def _executor(self) -> Executor:
        return Executor(self.journal, MeshControl(self.config, self.run_dir), self.lines.append)

    def apply(self, changes: list[dict[str, Any]], label: str) -> dict[str, Any]:
        change = parse_change({"version": 1, "changes": changes}, self.config, source=label)
        ex = self._executor()
        try:
            plan = build_plan(self.config, change, ex.mesh.observe(), load_weights(),
                              current_definitions(self.config, self.journal), ex.mesh.free_port)
            mid = ex.apply(plan, label)
        finally:
            ex.mesh.close()
        baseline = [s["data"].get("baseline_p95_s") for s in self.journal.steps(mid)
                    if s["step"] == "baseline" and s["phase"] == "done"]
        return {**self.journal.get(mid), "baseline_p95_s": baseline[0] if baseline else None}

    def rollback(self, mid: int) -> str:
        ex = self._executor()
        try:
            return ex.rollback(mid).value
        finally:
            ex.mesh.close()

    def p95_ms(self, endpoint: str) -> float:
        """The p95 of 20 probes, measured as the executor measures its baseline."""
        mesh = MeshControl(self.config, self.run_dir)
        try:
            return measure_p95_s(mesh, endpoint, {**PROBE, "timeout_s": 1.0}) * 1000
        finally:
            mesh.close()

    def close(self) -> None:
        self.journal.close()
