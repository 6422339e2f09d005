"""Liveness stamps: an agent's loop writes the time into a slot of a file its launcher reads.

A launcher gives each agent it starts one 8-byte slot of a small memory-mapped file (on
/dev/shm where there is one).  The agent's loop writes ``time.monotonic()`` there on every turn,
and turns at least every ``every_s`` (half a heartbeat interval), so a fresh stamp means the
loop runs: no message, no wake-up of anyone else.  The launcher reads every slot once per
heartbeat interval (common.launcher.stamps) and puts the agents with fresh stamps in its
batched liveness report; an agent whose loop hangs stops stamping, drops out of the batches
and is probed at once.  CLOCK_MONOTONIC is one clock for every process of a machine.

Slot 0 is the launcher's own stamp, written every turn of its loop: while it is older than
``every_s`` (half a heartbeat interval; the launcher stamps every 20 ms) the launcher is stuck,
its vouches count for nothing, and the agent beats to the registry and hub on its own again,
at once (its links' ``unvouch``).
"""

from __future__ import annotations

import mmap
import os
import struct
import time

__all__ = ["LAUNCHER_SLOT", "SLOT", "LivenessStamp"]

SLOT = struct.Struct("d")  # one double per agent: its loop's last turn, monotonic seconds
LAUNCHER_SLOT = 0  # the launcher's own; agents' slots start at 1


class LivenessStamp:
    def __init__(self, path: str, slot: int, every_s: float) -> None:
        self.every_s = every_s
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
        """Stamp now; whether the launcher's own stamp is fresh (its vouches hold)."""
        now = time.monotonic()
        SLOT.pack_into(self._map, self._offset, now)
        return now - SLOT.unpack_from(self._map, LAUNCHER_SLOT * SLOT.size)[0] <= self.every_s

    def close(self) -> None:
        self._map.close()
