"""The fork server's watch on its launcher's own liveness stamp (common.base_agent.stamp).

An idle agent sleeps in its poll until input comes, so it cannot see by itself that the
launcher speaking for it has stalled.  The fork server, its parent, reads the launcher's slot
every quarter heartbeat interval; once it is older than half an interval it sends SIGUSR1,
once per stall, to every agent it forked with a stamp slot.  The signal wakes the agent's loop
(its handler writes to the agent's self-pipe), which then finds the launcher's stamp stale
and beats to the registry and hub on its own.  Legacy scripts have no slot and get nothing.
"""

from __future__ import annotations

import mmap
import os
import signal
import time

from common.base_agent.stamp import LAUNCHER_SLOT, SLOT

__all__ = ["StallWatch"]

IDLE_WAIT_S = 1.0  # the fork server's wait when no stamped agent runs


class StallWatch:
    def __init__(self) -> None:
        self._map: mmap.mmap | None = None
        self._path = ""
        self.stale_s = 0.0
        self._pids: set[int] = set()
        self._stalled = False

    def add(self, pid: int, stamps: str, heartbeat_interval_s: float) -> None:
        """pid was forked with a slot in stamps (its launcher's file)."""
        if stamps != self._path:
            self.close()
            fd = os.open(stamps, os.O_RDONLY)
            try:
                self._map = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
            finally:
                os.close(fd)
            self._path = stamps
        self.stale_s = heartbeat_interval_s / 2
        self._pids.add(pid)

    def discard(self, pid: int) -> None:
        self._pids.discard(pid)

    def wait_s(self) -> float:
        """How long the fork server may wait before the next check."""
        return self.stale_s / 2 if self._pids else IDLE_WAIT_S

    def check(self) -> int:
        """Wake the stamped agents at the start of a stall; how many were signalled."""
        if self._map is None or not self._pids:
            return 0
        age = time.monotonic() - SLOT.unpack_from(self._map, LAUNCHER_SLOT * SLOT.size)[0]
        if age <= self.stale_s:
            self._stalled = False
            return 0
        if self._stalled:
            return 0
        self._stalled = True
        for pid in list(self._pids):
            try:
                os.kill(pid, signal.SIGUSR1)
            except ProcessLookupError:
                self._pids.discard(pid)
        return len(self._pids)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        self._path = ""
