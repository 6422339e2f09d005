"""The registry's rules, apart from sockets and storage: claims, heartbeats, expiry, lookups.

Every mutating method returns the change events it caused as ``(op, record)`` pairs; the agent
numbers them, persists them and publishes them.
"""

from __future__ import annotations

import time
from typing import Any

from common.base_agent.errors import BadRequest, MeshError, NotFoundError
from common.base_agent.handlers import require
from common.base_agent.heartbeat import expiry_s
from common.base_agent.protocol import ErrorCode

__all__ = ["Change", "RegistryState", "validate_record"]

Change = tuple[str, dict[str, Any]]
ENDPOINT_SCHEMES = ("tcp://", "ipc://", "inproc://")
MAX_INSTANCES = 4096  # live instances in all: a peer cannot grow the registry without bound
MAX_PER_NAME = 16  # instances of one name (blue/green needs two or three)
MAX_ADMITTED = 256  # names with blue/green admissions at once


def validate_record(payload: Any) -> dict[str, Any]:
    """A registration checked field by field; BadRequest names the first bad field."""
    record = {
        "name": require(payload, "name", str), "instance_id": require(payload, "instance_id", str),
        "endpoint": require(payload, "endpoint", str), "host": require(payload, "host", str, ""),
        "capabilities": require(payload, "capabilities", list, []),
        "version": require(payload, "version", str, ""), "pid": require(payload, "pid", int, 0),
        "metadata": require(payload, "metadata", dict, {}),
        "multi": require(payload, "multi", bool, False),
        "heartbeat_interval_s": float(require(payload, "heartbeat_interval_s", int | float, 1.0)),
    }
    if not record["name"] or not record["instance_id"]:
        raise BadRequest("payload.name and payload.instance_id must not be empty")
    if not record["endpoint"].startswith(ENDPOINT_SCHEMES):
        raise BadRequest(f"payload.endpoint {record['endpoint']!r} is not tcp://, ipc:// or inproc://")
    if not all(isinstance(c, str) for c in record["capabilities"]):
        raise BadRequest("payload.capabilities must be a list of strings")
    if not 0.01 <= record["heartbeat_interval_s"] <= 3600:
        raise BadRequest("payload.heartbeat_interval_s must be within 0.01..3600")
    return record


class RegistryState:
    def __init__(self, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.records: dict[str, dict[str, Any]] = {}
        self._last_seen: dict[str, float] = {}
        self._clock = clock
        # name -> endpoints whose instances may live beside each other without `multi`
        # (blue/green during a migration; see `admit`)
        self.admitted: dict[str, set[str]] = {}
        self._by_name: dict[str, dict[str, dict[str, Any]]] = {}  # name -> id -> record

    def load(self, records: list[dict[str, Any]]) -> None:
        """Records from storage; each gets a full TTL from now to heartbeat again."""
        now = self._clock()
        for record in records:
            self._put(record)
            self._last_seen[record["instance_id"]] = now

    def register(self, payload: Any) -> list[Change]:
        record = validate_record(payload)
        known = self.records.get(record["instance_id"])
        if known is None:
            self._check_room(record["name"])
        changes = self._evict_same_endpoint(record)
        self._check_claim(record)
        record["registered_at"] = known["registered_at"] if known else time.time()
        record["preferred"] = known["preferred"] if known else False
        record["weight"] = known.get("weight") if known else None
        self._put(record)
        self._last_seen[record["instance_id"]] = self._clock()
        return changes + [("update" if known else "register", record)]

    def _evict_same_endpoint(self, record: dict[str, Any]) -> list[Change]:
        """A new instance bound where an old one was: the old one is dead (one port, one owner)."""
        stale = [r for r in self.records.values() if r["endpoint"] == record["endpoint"]
                 and r["instance_id"] != record["instance_id"]]
        return [("deregister", self._drop(r["instance_id"])) for r in stale]

    def _check_room(self, name: str) -> None:
        if len(self.records) >= MAX_INSTANCES:
            raise MeshError(f"the registry holds {MAX_INSTANCES} instances, its limit",
                            ErrorCode.UNAVAILABLE)
        if len(self._by_name.get(name, {})) >= MAX_PER_NAME:
            raise MeshError(f"{name} has {MAX_PER_NAME} live instances, the limit per name",
                            ErrorCode.CONFLICT)

    def _check_claim(self, record: dict[str, Any]) -> None:
        for other in self._by_name.get(record["name"], {}).values():
            if other["instance_id"] == record["instance_id"]:
                continue
            if not (record["multi"] and other["multi"] or self._admitted(record, other)):
                raise MeshError(
                    f"{record['name']} is already held by live instance {other['instance_id']} "
                    f"(pid {other['pid']}, {other['endpoint']}); register with multi=true on "
                    "both instances to run several (blue/green)", ErrorCode.CONFLICT)

    def admit(self, name: str, endpoints: list[str]) -> None:
        """Let instances of name at these endpoints live side by side though not `multi`
        (blue/green: the old instance and its replacement).  An empty list ends it."""
        if endpoints:
            if name not in self.admitted and len(self.admitted) >= MAX_ADMITTED:
                raise BadRequest(f"{MAX_ADMITTED} names are admitted already, the limit")
            self.admitted[name] = set(endpoints)
        else:
            self.admitted.pop(name, None)

    def _admitted(self, record: dict[str, Any], other: dict[str, Any]) -> bool:
        allowed = self.admitted.get(record["name"], set())
        return record["endpoint"] in allowed and other["endpoint"] in allowed

    def heartbeat(self, instance_id: str) -> None:
        if instance_id not in self.records:
            raise NotFoundError("registry", "heartbeat", ErrorCode.NOT_FOUND,
                                f"instance {instance_id!r} is not registered")
        self._last_seen[instance_id] = self._clock()

    def deregister(self, instance_id: str) -> list[Change]:
        if instance_id not in self.records:
            return []
        return [("deregister", self._drop(instance_id))]

    def prefer(self, instance_id: str) -> list[Change]:
        """Mark one instance preferred (traffic shifts to it) and its siblings not."""
        target = self.records.get(instance_id)
        if target is None:
            raise MeshError(f"instance {instance_id!r} is not registered", ErrorCode.NOT_FOUND)
        changes = []
        for record in self.records.values():
            if record["name"] == target["name"]:
                flag = record["instance_id"] == instance_id
                if record["preferred"] != flag:
                    record["preferred"] = flag
                    changes.append(("update", record))
        return changes

    def set_weights(self, name: str, weights: dict[str, float]) -> list[Change]:
        """Traffic shares of name's instances (weighted canaries): each listed instance gets
        its weight (>= 0, relative), the others of name 0.  Clients choose among instances by
        weight once any instance of the name has one (see common.base_agent.choice)."""
        siblings = self._by_name.get(name, {})
        unknown = sorted(set(weights) - set(siblings))
        if unknown:
            raise MeshError(f"{name} has no live instance {unknown[0]!r}", ErrorCode.NOT_FOUND)
        for iid, w in weights.items():
            if isinstance(w, bool) or not isinstance(w, int | float) or not 0 <= w <= 1e6:
                raise BadRequest(f"payload.weights.{iid} must be a number within 0..1000000")
        changes = []
        for iid, record in siblings.items():
            weight = float(weights.get(iid, 0.0))
            if record.get("weight") != weight:
                record["weight"] = weight
                changes.append(("update", record))
        return changes

    def excuse(self, gap_s: float) -> None:
        """The registry itself was not running for gap_s (stopped, starved of CPU): that
        silence is not the instances'.  Each gets it back, up to now."""
        now = self._clock()
        for iid, seen in self._last_seen.items():
            self._last_seen[iid] = min(now, seen + gap_s)

    def expire(self) -> list[Change]:
        now = self._clock()
        dead = [iid for iid, seen in self._last_seen.items()
                if now - seen > expiry_s(self.records[iid]["heartbeat_interval_s"])]
        return [("expire", self._drop(iid)) for iid in dead]

    def _put(self, record: dict[str, Any]) -> None:
        self.records[record["instance_id"]] = record
        self._by_name.setdefault(record["name"], {})[record["instance_id"]] = record

    def _drop(self, instance_id: str) -> dict[str, Any]:
        self._last_seen.pop(instance_id, None)
        record = self.records.pop(instance_id)
        siblings = self._by_name[record["name"]]
        del siblings[instance_id]
        if not siblings:
            del self._by_name[record["name"]]
        return record

    def lookup(self, name: str | None = None, capability: str | None = None) -> list[dict]:
        """Live instances, preferred first, then the most recently registered."""
        pool = self.records if name is None else self._by_name.get(name, {})
        found = [r for r in pool.values()
                 if capability is None or capability in r["capabilities"]]
        found.sort(key=lambda r: (not r["preferred"], -r["registered_at"]))
        return found

    def age_s(self, instance_id: str) -> float:
        return round(self._clock() - self._last_seen[instance_id], 3)
