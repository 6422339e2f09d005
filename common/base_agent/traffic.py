"""The last requests an instance served, one by one: what a canary judge compares.

Counters and histograms (common.base_agent.metrics) are enough for dashboards, but a judge that
compares an old and a new instance over the same window needs the samples themselves: a
Mann-Whitney test on latency is meaningless on 2.5x-wide histogram buckets.  Every request an
agent answers is kept here (wall time, action, seconds, error code) in a ring of ``KEPT``;
the built-in ``traffic`` action answers those after a given time, at most ``MAX_REPLY`` at once
(the reply says whether more are waiting), leaving out the mesh's own housekeeping actions.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

__all__ = ["HOUSEKEEPING", "KEPT", "MAX_REPLY", "TrafficLog"]

KEPT = 16384
MAX_REPLY = 4096  # ~30 bytes a sample: far under the 1 MiB message limit
HOUSEKEEPING = frozenset({"health", "health_check", "traffic", "heartbeat"})


class TrafficLog:
    """Owned by the agent's loop thread (the only writer); read by the ``traffic`` handler."""

    def __init__(self, kept: int = KEPT) -> None:
        self._ring: deque[tuple[float, str, float, str]] = deque(maxlen=kept)
        self.dropped = 0  # samples pushed out of the ring before anyone read them

    def add(self, action: str, seconds: float, error_code: str) -> None:
        if action in HOUSEKEEPING:
            return
        if len(self._ring) == self._ring.maxlen:
            self.dropped += 1
        self._ring.append((time.time(), action, seconds, error_code))

    def since(self, after: float, action: str | None = None) -> dict[str, Any]:
        """Samples newer than ``after`` (wall seconds), oldest first, columnar."""
        picked = [s for s in list(self._ring) if s[0] > after
                  and (action is None or s[1] == action)]
        more = len(picked) > MAX_REPLY
        picked = picked[:MAX_REPLY]
        return {"ts": [round(s[0], 6) for s in picked], "action": [s[1] for s in picked],
                "seconds": [round(s[2], 7) for s in picked],
                "error": [s[3] for s in picked], "more": more, "now": time.time()}
