"""One launcher per host: an exclusive lock file holding the launcher's pid."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["HostLock", "LauncherRunning"]


class LauncherRunning(Exception):
    """Another launcher holds this host; the message names its pid."""


class HostLock:
    def __init__(self, run_dir: str, host: str) -> None:
        self.path = Path(run_dir, f"launcher-{host}.lock")
        self.host = host
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode().strip() or "?"
            os.close(fd)
            raise LauncherRunning(f"a launcher for host {self.host} is already running "
                                  f"(pid {holder}, lock {self.path}); stop it with "
                                  f"`mesh down --host {self.host}`") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def holder_pid(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
