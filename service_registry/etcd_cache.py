"""The per-host registry agent's copy of the registry, fed by an etcd watch.

Keys under the registry prefix (``/agentmesh/registry/`` by default):

- ``inst/{name}/{instance_id}``: the instance's record (JSON), bound to its lease;
- ``admit/{name}``: the endpoints admitted side by side for a blue/green switch (JSON list).

The watcher thread calls :meth:`reset` (a full read) and :meth:`apply` (watch events); each
turns what changed into ``(op, record)`` changes that the agent drains and publishes with its
own sequence numbers, so watchers of every host's agent see the same stream of changes.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from common.etcd import KeyValue, WatchEvent
from service_registry.state import Change

__all__ = ["RegistryCache", "admit_key", "instance_key", "name_prefix"]

log = logging.getLogger(__name__)


def name_prefix(prefix: str, name: str) -> str:
    return f"{prefix}inst/{name}/"


def instance_key(prefix: str, name: str, instance_id: str) -> str:
    return f"{name_prefix(prefix, name)}{instance_id}"


def admit_key(prefix: str, name: str) -> str:
    return f"{prefix}admit/{name}"


class RegistryCache:
    def __init__(self, prefix: str, on_change: Callable[[], None] = lambda: None) -> None:
        """on_change: called (from the watcher's thread) when changes wait to be drained."""
        self.prefix = prefix
        self._on_change = on_change
        self.records: dict[str, dict[str, Any]] = {}  # instance_id -> record
        self.leases: dict[str, int] = {}  # instance_id -> its lease
        self.admitted: dict[str, set[str]] = {}
        self.revision = 0  # the etcd revision this copy reflects
        self.lock = threading.Lock()
        self._caught_up = threading.Condition(self.lock)
        self._keys: dict[str, str] = {}  # instance key -> instance_id
        self._pending: list[Change] = []

    def reset(self, revision: int, kvs: list[KeyValue]) -> None:
        """A full read at revision: the differences from what was held become changes."""
        with self.lock:
            old = self.records
            self.records, self.leases, self.admitted, self._keys = {}, {}, {}, {}
            for kv in kvs:
                self._put(kv)  # its change is not queued: the differences below say it
            for iid, record in old.items():
                if iid not in self.records:
                    self._pending.append(("deregister", record))
            for iid, record in self.records.items():
                if old.get(iid) != record:
                    self._pending.append(("update" if iid in old else "register", record))
            self._advance(revision)
        log.info("registry cache loaded at revision %d: %d instances", revision, len(self.records))

    def apply(self, events: list[WatchEvent]) -> None:
        with self.lock:
            for event in events:
                if event.type == "DELETE":
                    self._delete(event.kv.key)
                else:
                    change = self._put(event.kv)
                    if change is not None:
                        self._pending.append(change)
            self._advance(max(event.kv.mod_revision for event in events))

    def _advance(self, revision: int) -> None:
        self.revision = max(self.revision, revision)
        self._caught_up.notify_all()
        if self._pending:
            self._on_change()

    def wait_revision(self, revision: int, timeout_s: float) -> bool:
        """Block until this copy reflects revision (a write of ours came back through the
        watch: lookups read what was written), or timeout_s passes."""
        with self.lock:
            return self._caught_up.wait_for(lambda: self.revision >= revision, timeout_s)

    def _put(self, kv: KeyValue) -> Change | None:
        rest = kv.key[len(self.prefix):]
        try:
            value = json.loads(kv.value)
        except ValueError:
            log.warning("registry key %s holds no JSON; ignored", kv.key)
            return None
        if rest.startswith("admit/"):
            self.admitted[rest[len("admit/"):]] = set(value)
        elif rest.startswith("inst/") and isinstance(value, dict):
            iid = value["instance_id"]
            known = iid in self.records
            self.records[iid], self.leases[iid], self._keys[kv.key] = value, kv.lease, iid
            return ("update" if known else "register", value)
        return None

    def _delete(self, key: str) -> None:
        rest = key[len(self.prefix):]
        if rest.startswith("admit/"):
            self.admitted.pop(rest[len("admit/"):], None)
            return
        iid = self._keys.pop(key, None)
        if iid is not None and iid in self.records:
            self.leases.pop(iid, None)
            self._pending.append(("deregister", self.records.pop(iid)))

    def drain(self) -> list[Change]:
        with self.lock:
            pending, self._pending = self._pending, []
        return pending

    def lookup(self, name: str | None = None, capability: str | None = None) -> list[dict]:
        """Live instances, preferred first, then the most recently registered (as the SQLite
        registry answers)."""
        with self.lock:
            found = [r for r in self.records.values()
                     if (name is None or r["name"] == name)
                     and (capability is None or capability in r["capabilities"])]
        found.sort(key=lambda r: (not r["preferred"], -r["registered_at"]))
        return found
