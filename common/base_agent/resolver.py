"""Resolver: a client's names, as the registry has them, cached.

``resolve(name)`` gives the endpoint to call name at: its preferred live instance, or, once the
registry has weights for its instances, one chosen by weight (common.base_agent.choice).  A
lookup is cached; it is redone once ``cache_ttl_s`` old (None: only ``invalidate`` forgets, as
a client following the registry's change events does).  It also remembers which endpoints are
legacy scripts (one JSON frame each way) and, for a call that failed at one instance, where
else to send it.  The registry itself is called through the client's ``call_endpoint``,
failing over along the registry pair (common.base_agent.registries).
"""

from __future__ import annotations

import time
from typing import Any

from common.base_agent import protocol
from common.base_agent.choice import Choice
from common.base_agent.errors import MeshError, NoInstanceError, NotFoundError
from common.base_agent.registries import CallEndpoint, RegistryRing

__all__ = ["REGISTRY_PEER", "Resolver"]

REGISTRY_PEER = "ServiceRegistry"


class Resolver:
    def __init__(self, registry: str | None, call_endpoint: CallEndpoint,
                 cache_ttl_s: float | None, retries: int) -> None:
        self.registry = registry
        self.cache_ttl_s = cache_ttl_s
        self.retries = retries  # of a lookup
        self._call_endpoint = call_endpoint
        self._ring: RegistryRing | None = None
        self._fresh_until: dict[str, float] = {}  # name -> when its lookup is to be redone
        self._cache: dict[str, str] = {}  # name -> endpoint: names without weights
        self._choices: dict[str, Choice] = {}  # names whose instances have weights
        self._legacy: set[str] = set()  # endpoints of legacy scripts

    def resolve(self, name: str, timeout_s: float, session_key: str | None = None) -> str:
        """The endpoint to call name at; a session key always reaches the same instance while
        the weights stand.  If the registry does not answer when a cached lookup is due, the
        cached instances go on serving."""
        cached = name in self._choices or name in self._cache
        if not cached or time.monotonic() >= self._fresh_until.get(name, 0.0):
            try:
                self._lookup(name, timeout_s)
            except MeshError:
                if not cached:
                    raise
                self._fresh_until[name] = time.monotonic() + (self.cache_ttl_s or 0.0)
        choice = self._choices.get(name)
        if choice is not None:
            return choice.pick(session_key)["endpoint"]
        return self._cache[name]

    def cached(self, name: str) -> str | None:
        """name's endpoint as cached now (a name without weights), None if not cached."""
        return self._cache.get(name)

    def is_legacy(self, endpoint: str) -> bool:
        return endpoint in self._legacy

    def call_registry(self, action: str, payload: Any, *, timeout_s: float,
                      retries: int) -> Any:
        if self._ring is None:
            self._ring = RegistryRing(self.registry)
        return self._ring.call(self._call_endpoint, REGISTRY_PEER, action, payload,
                               timeout_s=timeout_s, retries=retries)

    def invalidate(self, name: str | None = None) -> None:
        """Forget name's endpoint (all names when None)."""
        if name is None:
            self._cache.clear()
            self._choices.clear()
            self._fresh_until.clear()
        else:
            self._cache.pop(name, None)
            self._choices.pop(name, None)
            self._fresh_until.pop(name, None)

    def other_instance(self, name: str, failed: str, timeout_s: float) -> str | None:
        """Where else to send a call that failed at ``failed``, as the registry has name now
        (if it changed while the call waited: a crash, a rollback, an instance stopping): the
        heaviest other weighted instance; for a name without weights, its instance if that is
        no longer ``failed``."""
        if name not in self._choices:
            self.invalidate(name)
            try:
                fresh = self.resolve(name, timeout_s)
            except MeshError:
                return None
            if name not in self._choices:
                return fresh if fresh != failed else None
        choice = self._choices[name]
        others = [r for r in choice.records if r["endpoint"] != failed
                  and float(r.get("weight") or 0) > 0]
        return max(others, key=lambda r: float(r["weight"]))["endpoint"] if others else None

    def _lookup(self, name: str, timeout_s: float) -> None:
        """Ask the registry for name's live instances and cache them (a weighted choice keeps
        its round-robin credit across lookups, so a light instance is not starved)."""
        if not self.registry:
            raise NotFoundError(name, "resolve", "not_found",
                                "no registry given (--registry or MESH_REGISTRY)")
        found = self.call_registry(protocol.ACTION_LOOKUP, {"name": name}, timeout_s=timeout_s,
                                   retries=self.retries)
        if not found:
            raise NoInstanceError(name, "resolve", "not_found", f"no live instance of {name!r}")
        for record in found:
            metadata = record.get("metadata") or {}
            if metadata.get(protocol.METADATA_PROTOCOL) == protocol.PROTOCOL_LEGACY:
                self._legacy.add(record["endpoint"])
            else:
                self._legacy.discard(record["endpoint"])
        previous = self._choices.pop(name, None)
        self._cache.pop(name, None)
        choice = Choice(found, dict(previous.credit) if previous is not None else {})
        if choice.weighted:
            self._choices[name] = choice
        else:
            self._cache[name] = found[0]["endpoint"]
        self._fresh_until[name] = time.monotonic() + self.cache_ttl_s \
            if self.cache_ttl_s is not None else float("inf")
