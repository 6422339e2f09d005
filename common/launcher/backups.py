"""Scheduled backups (``backup: {every, keep, to}``), run by each host's launcher.

Every ``every`` seconds a launcher runs ``mesh backup --host HOST`` (common.cli.backup_cmd) in
the mesh's folder, into ``to/HOST-UTCSTAMP``: its own host's state files, and on the host
holding the ``registry`` role also the journal and the config (``--host-only`` elsewhere).
Then it deletes all but the newest ``keep`` of its own folders.  A background thread and a
child process: a backup never holds the launcher's loop.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from common.config import MeshConfig

__all__ = ["BackupSchedule", "prune"]

log = logging.getLogger(__name__)

TIMEOUT_S = 600.0  # one backup's bound: a stuck one is killed, the next still runs


class BackupSchedule:
    def __init__(self, config: MeshConfig, host: str, base_dir: str, config_path: str | None,
                 run_dir: str) -> None:
        self.config, self.host, self.base_dir = config, host, base_dir
        self.folder = Path(base_dir, config.backup.to)
        self.config_path, self.run_dir = config_path, run_dir
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.config.backup.every is None:
            return
        if self.config_path is None:
            log.warning("backup.every is set but the launcher has no config file: no "
                        "scheduled backups")
            return
        self._thread = threading.Thread(target=self._run, name="backups", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)

    def _run(self) -> None:
        while not self._stop.wait(float(self.config.backup.every or 0)):
            self.take()

    def take(self) -> Path | None:
        now = time.time()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        to = self.folder / f"{self.host}-{stamp}"
        argv = [sys.executable, "-m", "common.cli.main", "backup", "--host", self.host,
                "--to", str(to.relative_to(self.base_dir)) if to.is_relative_to(self.base_dir)
                else str(to), "--config", str(self.config_path), "--run-dir", self.run_dir]
        if not self.config.has_role(self.host, "registry"):
            argv.append("--host-only")  # the journal and the config: once, on that host
        try:
            done = subprocess.run(argv, cwd=self.base_dir, capture_output=True, text=True,
                                  timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.error("scheduled backup %s took over %.0f s: killed", to, TIMEOUT_S)
            return None
        if done.returncode != 0:
            log.error("scheduled backup %s failed: %s", to, done.stderr.strip())
            return None
        log.info("scheduled backup: %s", done.stdout.strip())
        prune(self.folder, self.host, self.config.backup.keep)
        return to


def prune(folder: Path, host: str, keep: int) -> list[Path]:
    """Delete all but the newest keep of host's backups in folder; returns those deleted."""
    mine = sorted(p for p in folder.glob(f"{host}-*")
                  if p.is_dir() and not p.name.endswith(".partial"))
    gone = mine[:-keep] if len(mine) > keep else []
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return gone
