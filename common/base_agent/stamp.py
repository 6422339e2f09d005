"""Liveness stamps: an agent's loop writes what it is doing into a slot its launcher reads.

A launcher gives each agent it starts one 8-byte slot of a small memory-mapped file (on
/dev/shm where there is one).  The agent's loop writes ``time.monotonic()`` there: negated
just before it waits for input (``idle``: "waiting in poll since t"), positive as soon as the
wait ends (``beat``: "turning since t").  No timer, no wake-up: an idle agent sleeps until
input, a probe, or one of its own timers.  The launcher reads every slot once per heartbeat
interval (common.launcher.stamps): an agent waiting for input is live if its process runs
(the fork server did not report it stopped), a turning one if its turn began within the
interval; the live ones go in its batched liveness report, and an agent whose loop hangs (a
handler that never returns, a stopped process) drops out of the batches and is probed at
once.  CLOCK_MONOTONIC is one clock for every process of a machine.

Slot 0 is the launcher's own stamp, written every turn of its loop (every 0.2 s at most once
settled).  While it is older than ``stale_s`` (half a heartbeat interval) the launcher is
stuck and its vouches count for nothing: the agent beats to the registry and hub on its own
again, at once (its links' ``unvouch``).  An agent checks that on each turn; an idle one is
woken for it by the fork server, which watches slot 0 (common.spawn.stall, SIGUSR1).
"""

from __future__ import annotations

import mmap
import os
import struct
import time

__all__ = ["LAUNCHER_SLOT", "SLOT", "LivenessStamp"]

SLOT = struct.Struct("d")  # one double per agent: its loop's last turn (+) or wait (-), seconds
LAUNCHER_SLOT = 0  # the launcher's own; agents' slots start at 1


class LivenessStamp:
    def __init__(self, path: str, slot: int, stale_s: float) -> None:
        self.stale_s = stale_s
        self._offset = slot * SLOT.size
        fd = os.open(path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        if not 0 <= self._offset <= len(self._map) - SLOT.size:
            self._map.close()
            raise ValueError(f"liveness slot {slot} is outside {path}")

    def beat(self) -> bool:
        """The loop turns (since now); whether the launcher's own stamp is fresh (its vouches
        hold)."""
        now = time.monotonic()
        SLOT.pack_into(self._map, self._offset, now)
        return now - SLOT.unpack_from(self._map, LAUNCHER_SLOT * SLOT.size)[0] <= self.stale_s

    def idle(self) -> None:
        """The loop waits for input from now on."""
        SLOT.pack_into(self._map, self._offset, -time.monotonic())

    def close(self) -> None:
        self._map.close()
