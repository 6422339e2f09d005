"""The launcher's side of liveness stamps (common.base_agent.stamp): one slot per agent key.

``assign(key)`` gives key a slot (the same one across its restarts) and clears it; ``age_s``
says how long the agent's loop has been turning without waiting for input again (0 while it
waits in its poll and its process runs; infinity before its first turn, or while its process
is stopped: SIGSTOP or SIGTSTP, which the fork server reports as it reaps, so no ``/proc``
is read per agent; a debugger's stop is not reported, its health probe finds it); ``beat``
stamps the launcher's own slot (0), which its agents read to know its vouches hold.  The file
lives on /dev/shm when the machine has it (memory only), else in the run folder, and is removed
when the launcher stops; a launcher starting removes the files of its host's launchers that
died without removing theirs (SIGKILL).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

from common.base_agent.stamp import LAUNCHER_SLOT, SLOT

__all__ = ["MAX_SLOTS", "StampBoard"]

MAX_SLOTS = 16_384  # agents and instances one launcher stamps (128 KiB)
SHM = Path("/dev/shm")


def _remove_orphans(folder: Path, host: str) -> None:
    for path in folder.glob(f"agentmesh-{host}-*.stamps"):
        pid = path.name[len(f"agentmesh-{host}-"):-len(".stamps")]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:  # its launcher is gone
            path.unlink(missing_ok=True)
        except PermissionError:  # someone else's live process
            pass


class StampBoard:
    def __init__(self, run_dir: str, host: str) -> None:
        folder = SHM if SHM.is_dir() and os.access(SHM, os.W_OK) else Path(run_dir)
        _remove_orphans(folder, host)
        self.path = str(folder / f"agentmesh-{host}-{os.getpid()}.stamps")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, MAX_SLOTS * SLOT.size)
            self._map = mmap.mmap(fd, 0)
        finally:
            os.close(fd)
        self._slots: dict[str, int] = {}
        self._stopped: set[int] = set()  # pids the fork server reported stopped

    def stopped(self, pid: int, stopped: bool = True) -> None:
        """pid stopped (SIGSTOP) or, with stopped=False, continued or exited."""
        if stopped:
            self._stopped.add(pid)
        else:
            self._stopped.discard(pid)

    def assign(self, key: str) -> int | None:
        """key's slot, cleared for a new process; None when every slot is taken."""
        slot = self._slots.get(key)
        if slot is None:
            if len(self._slots) >= MAX_SLOTS - 1:
                return None
            slot = self._slots[key] = len(self._slots) + 1  # after the launcher's own
        SLOT.pack_into(self._map, slot * SLOT.size, 0.0)
        return slot

    def beat(self, now: float) -> None:
        SLOT.pack_into(self._map, LAUNCHER_SLOT * SLOT.size, now)

    def age_s(self, key: str, now: float, pid: int) -> float:
        """Seconds key's loop (process pid) has been busy: 0 while it waits for input."""
        slot = self._slots.get(key)
        if slot is None:
            return float("inf")
        stamp = SLOT.unpack_from(self._map, slot * SLOT.size)[0]
        if stamp > 0:  # turning since then
            return now - stamp
        return 0.0 if stamp < 0 and pid not in self._stopped else float("inf")

    def close(self) -> None:
        self._map.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
