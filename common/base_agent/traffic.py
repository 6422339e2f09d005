"""The last requests an instance served, one by one: what a canary judge compares.

Counters and histograms (common.base_agent.metrics) are enough for dashboards, but a judge that
compares an old and a new instance over the same window needs the samples themselves: a
Mann-Whitney test on latency is meaningless on 2.5x-wide histogram buckets.  Every request an
agent answers is kept here (wall time, action, seconds, error code) in a ring of ``KEPT``, as
four packed columns (20 bytes a request: a full ring is 330 KB, where tuples took 2.1 MB); the
built-in ``traffic`` action answers those after a given time, at most ``MAX_REPLY`` at once
(the reply says whether more are waiting), leaving out the mesh's own housekeeping actions.
"""

from __future__ import annotations

import time
from array import array
from typing import Any

__all__ = ["HOUSEKEEPING", "KEPT", "MAX_REPLY", "TrafficLog"]

KEPT = 16384
MAX_REPLY = 4096  # ~30 bytes a sample: far under the 1 MiB message limit
HOUSEKEEPING = frozenset({"health", "health_check", "traffic", "heartbeat"})


class TrafficLog:
    """Owned by the agent's loop thread (the only writer); read by the ``traffic`` handler.

    The columns grow to ``kept`` rows and then wrap; actions and error codes are stored as
    indexes into ``_names`` (an agent's actions are bounded by its handlers, its codes by the
    protocol's)."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._ts, self._seconds = array("d"), array("d")
        self._action, self._error = array("H"), array("H")
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._next = 0  # the row the next sample goes to, once the ring is full
        self.dropped = 0  # samples pushed out of the ring

    def _code(self, text: str) -> int:
        code = self._index.get(text)
        if code is None:
            code = self._index[text] = len(self._names)
            self._names.append(text)
        return code

    def add(self, action: str, seconds: float, error_code: str) -> None:
        if action in HOUSEKEEPING:
            return
        now, act, err = time.time(), self._code(action), self._code(error_code)
        if len(self._ts) < self._kept:
            self._ts.append(now)
            self._seconds.append(seconds)
            self._action.append(act)
            self._error.append(err)
            return
        row = self._next
        self._ts[row], self._seconds[row] = now, seconds
        self._action[row], self._error[row] = act, err
        self._next = (row + 1) % self._kept
        self.dropped += 1

    def since(self, after: float, action: str | None = None) -> dict[str, Any]:
        """Samples newer than ``after`` (wall seconds), oldest first, columnar."""
        wanted = None if action is None else self._index.get(action, -1)
        rows = [i for i in self._newer(after)
                if wanted is None or self._action[i] == wanted]
        more = len(rows) > MAX_REPLY
        rows = rows[:MAX_REPLY]
        names = self._names
        return {"ts": [round(self._ts[i], 6) for i in rows],
                "action": [names[self._action[i]] for i in rows],
                "seconds": [round(self._seconds[i], 7) for i in rows],
                "error": [names[self._error[i]] for i in rows], "more": more, "now": time.time()}

    def _newer(self, after: float) -> list[int]:
        """Rows newer than ``after``, oldest first: walked back from the newest, so a reader
        that asks for what came since its last read touches only that."""
        size, rows = len(self._ts), []
        for back in range(1, size + 1):
            row = (self._next - back) % size
            if self._ts[row] <= after:
                break
            rows.append(row)
        rows.reverse()
        return rows
