"""RelayAgent: stands in front of a store on another host and forwards by name.

MemoryClient (MainPC) -> MemoryOrchestratorService (PC2).  ``target`` names the store; reads
(``search``, ``get``, ``recent``) are cached for ``cache_ttl_s`` and the cache is dropped on
any write, so a reader never sees its own write missing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import Field

from common.base_agent import handler
from common.kinds.base import MeshAgent

__all__ = ["RelayAgent"]

CACHE_MAX = 1024


class RelayAgent(MeshAgent):
    capabilities = ("relay",)
    target = ""
    cache_ttl_s = 2.0

    class Settings(MeshAgent.Settings):
        target: str | None = None  # None: the class's own target
        cache_ttl_s: float | None = Field(default=None, ge=0)  # None: the class's own

    settings: Settings

    def setup_kind(self) -> None:
        s = self.settings
        if s.target is not None:
            self.target = s.target
        if s.cache_ttl_s is not None:
            self.cache_ttl_s = s.cache_ttl_s
        self.cache: dict[str, tuple[float, Any]] = {}
        self.hits = self.misses = 0

    def _forward(self, action: str, payload: Any, write: bool) -> dict[str, Any]:
        t0 = time.perf_counter()
        key = f"{action}:{json.dumps(payload, sort_keys=True, default=str)}"
        cached = None if write else self.cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            self.hits += 1
            return {**cached[1], "cached": True, "hops": [self.my_hop(action, t0)]}
        hops: list[dict[str, Any]] = []
        result = self.call(self.target, action, payload, hops, idempotent=not write)
        if write:
            self.cache.clear()
        else:
            self.misses += 1
            if len(self.cache) >= CACHE_MAX:
                self.cache.clear()
            self.cache[key] = (time.monotonic() + self.cache_ttl_s, result)
        return {**result, "hops": [self.my_hop(action, t0), *hops]}

    @handler("store")
    def store(self, payload: Any) -> dict[str, Any]:
        return self._forward("store", payload, write=True)

    @handler("forget")
    def forget(self, payload: Any) -> dict[str, Any]:
        return self._forward("forget", payload, write=True)

    @handler("search")
    def search(self, payload: Any) -> dict[str, Any]:
        return self._forward("search", payload, write=False)

    @handler("get")
    def get(self, payload: Any) -> dict[str, Any]:
        return self._forward("get", payload, write=False)

    @handler("recent")
    def recent(self, payload: Any = None) -> dict[str, Any]:
        return self._forward("recent", payload or {}, write=False)

    @handler("relay_stats")
    def relay_stats(self, payload: Any = None) -> dict[str, Any]:
        return {"target": self.target, "cache_hits": self.hits, "cache_misses": self.misses,
                "cached": len(self.cache)}
