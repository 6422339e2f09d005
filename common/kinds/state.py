"""StateHolder: a small typed state that publishes every change (topic ``state``).

``fields`` gives the state's keys with defaults; a change must keep each value's type, and
numbers are clamped to ``[low, high]`` of ``ranges``.  ``set {changes}`` applies and
publishes; ``get`` returns ``{state, version}``; ``history {limit}`` the recent changes.
A holder with an ``upstream`` holder folds the upstream's published states into its own
(``fold``; MoodTrackerAgent keeps a moving average of EmotionEngine's valence).
"""

from __future__ import annotations

import collections
import copy
import time
from typing import Any

from common.base_agent import BadRequest, handler, require
from common.kinds.stream import Message, StreamStage

__all__ = ["StateHolder"]

HISTORY_MAX = 200


class StateHolder(StreamStage):
    capabilities = ("state",)
    topics = ("state",)
    fields: dict[str, Any] = {}
    ranges: dict[str, tuple[float, float]] = {}

    def setup_kind(self) -> None:
        self.state = copy.deepcopy(self.fields)
        self.state_version = 0
        self.changes: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY_MAX)
        super().setup_kind()

    def apply(self, changes: dict[str, Any], source: str) -> dict[str, Any]:
        for key, value in changes.items():
            if key not in self.fields:
                raise BadRequest(f"{self.name} has no state field {key!r}")
            default = self.fields[key]
            if isinstance(default, float) and isinstance(value, int):
                value = float(value)
            if not isinstance(value, type(default)) or isinstance(value, bool) != isinstance(
                    default, bool):
                raise BadRequest(f"state.{key} must be {type(default).__name__}")
            if key in self.ranges:
                low, high = self.ranges[key]
                value = min(high, max(low, value))
            self.state[key] = value
        self.state_version += 1
        self.changes.append({"version": self.state_version, "changes": changes, "source": source,
                             "ts": time.time()})
        self.publish("state", {"agent": self.name, "version": self.state_version,
                               "state": self.state})
        return {"state": dict(self.state), "version": self.state_version}

    @handler("set")
    def set_(self, payload: Any) -> dict[str, Any]:
        return self.apply(require(payload, "changes", dict), "set")

    @handler("get")
    def get(self, payload: Any = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        return {"state": dict(self.state), "version": self.state_version,
                "hops": [self.my_hop("get", t0)]}

    @handler("history")
    def history(self, payload: Any = None) -> dict[str, Any]:
        limit = require(payload or {}, "limit", int, 20)
        return {"changes": list(self.changes)[-limit:]}

    def process(self, topic: str, header: dict[str, Any], data: bytes) -> list[Message]:
        changes = self.fold(header.get("state", {}))
        if changes:
            self.apply(changes, header.get("agent", "upstream"))
        return []

    def fold(self, upstream: dict[str, Any]) -> dict[str, Any]:
        """The changes an upstream state implies for this one (override)."""
        return {}
