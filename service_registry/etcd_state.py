"""The registry's rules on etcd: every change is one transaction on the name's keys.

A change reads the name's instances (and its blue/green admission) at revision R, applies the
same rules as the SQLite registry (:class:`~service_registry.state.RegistryState`: claims,
endpoint eviction, preference, weights) to that read, and writes the result in a transaction
that holds only if no key of the name changed after R; a lost race is retried on a fresh read.
Registrations are keys bound to a lease of ``expiry_s(heartbeat_interval_s)``: a heartbeat is
a lease keep-alive, and an instance whose beats stop is deleted by etcd itself.  Reads are
served from the local :class:`~service_registry.etcd_cache.RegistryCache`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from common.base_agent.errors import BadRequest, MeshError, NotFoundError
from common.base_agent.heartbeat import expiry_s
from common.base_agent.protocol import ErrorCode
from common.etcd import EtcdClient, EtcdUnavailable
from common.etcd.client import compare, delete_op, put_op
from service_registry.etcd_cache import RegistryCache, admit_key, instance_key, name_prefix
from service_registry.etcd_keeper import LeaseKeeper
from service_registry.state import (
    MAX_ADMITTED,
    MAX_INSTANCES,
    Change,
    RegistryState,
    validate_record,
)

__all__ = ["EtcdState"]

TXN_TRIES = 5
CATCH_UP_S = 0.5  # at most this long for our own write to come back through the watch


class EtcdState:
    def __init__(self, client: EtcdClient, cache: RegistryCache,
                 available: Callable[[], bool], keeper: LeaseKeeper) -> None:
        self.client = client
        self.keeper = keeper
        self.cache = cache
        self.prefix = cache.prefix
        self._available = available
        self._granted: dict[str, int] = {}  # instance_id -> lease this agent granted it

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return self.cache.records

    @property
    def admitted(self) -> dict[str, set[str]]:
        return self.cache.admitted

    def _check_up(self) -> None:
        """Fail at once while the watcher sees no quorum, instead of a timeout per call."""
        if not self._available():
            raise EtcdUnavailable("registry unavailable: no etcd member with a quorum answers")

    # -- writes --------------------------------------------------------------------------------
    def register(self, payload: Any) -> list[Change]:
        """Also a rename: the instance's key under another name goes in the same txn."""
        record = validate_record(payload)
        self._check_up()
        if record["instance_id"] not in self.cache.records \
                and len(self.cache.records) >= MAX_INSTANCES:
            raise MeshError(f"the registry holds {MAX_INSTANCES} instances, its limit",
                            ErrorCode.UNAVAILABLE)
        others = [r for r in self.cache.lookup() if r["name"] != record["name"] and (
            r["endpoint"] == record["endpoint"] or r["instance_id"] == record["instance_id"])]
        lease = self._lease_for(record)
        extra = [delete_op(instance_key(self.prefix, r["name"], r["instance_id"]))
                 for r in others]
        changes = self._rewrite(record["name"], lambda s: s.register(record),
                                (record["instance_id"], lease), extra)
        return [("deregister", r) for r in others] + changes

    def _lease_for(self, record: dict[str, Any]) -> int:
        known = self.cache.leases.get(record["instance_id"]) or self._granted.get(
            record["instance_id"])
        if known and self.client.keepalive(known) > 0:
            return known
        lease = self.client.grant(math.ceil(expiry_s(record["heartbeat_interval_s"])))
        if len(self._granted) >= MAX_INSTANCES:  # instances that died before their first beat
            self._granted.clear()
        self._granted[record["instance_id"]] = lease
        return lease

    def prefer(self, instance_id: str) -> list[Change]:
        target = self.cache.records.get(instance_id)
        if target is None:
            raise MeshError(f"instance {instance_id!r} is not registered", ErrorCode.NOT_FOUND)
        self._check_up()
        return self._rewrite(target["name"], lambda s: s.prefer(instance_id))

    def set_weights(self, name: str, weights: dict[str, float]) -> list[Change]:
        self._check_up()
        return self._rewrite(name, lambda s: s.set_weights(name, weights))

    def admit(self, name: str, endpoints: list[str]) -> None:
        self._check_up()
        if endpoints:
            if name not in self.admitted and len(self.admitted) >= MAX_ADMITTED:
                raise BadRequest(f"{MAX_ADMITTED} names are admitted already, the limit")
            revision = self.client.put(admit_key(self.prefix, name),
                                       json.dumps(sorted(endpoints)))
        else:
            revision = self.client.delete_revision(admit_key(self.prefix, name))
        self._caught_up(revision)

    def _rewrite(self, name: str, rule: Callable[[RegistryState], list[Change]],
                 owner: tuple[str, int] | None = None, extra: list[dict[str, Any]] | None = None
                 ) -> list[Change]:
        """Apply rule to a fresh read of name's keys and write the outcome if none of them
        changed meanwhile (optimistic concurrency); retried on a lost race.  owner: the
        instance being registered and its lease; every other record keeps its own lease."""
        for _ in range(TXN_TRIES):
            revision, scratch = self._read(name)
            changes = rule(scratch)
            ops = list(extra or [])
            for op, record in changes:
                key = instance_key(self.prefix, record["name"], record["instance_id"])
                if owner is not None and record["instance_id"] == owner[0]:
                    ops.append(put_op(key, json.dumps(record), owner[1]))
                elif op in ("register", "update"):
                    ops.append(put_op(key, json.dumps(record), keep_lease=True))
                else:
                    ops.append(delete_op(key))
            guard = [compare(name_prefix(self.prefix, name), "MOD", "LESS", revision + 1,
                             prefix=True),
                     compare(admit_key(self.prefix, name), "MOD", "LESS", revision + 1)]
            if not ops:
                return changes
            done, reply = self.client.txn(guard, ops)
            if done:
                self._caught_up(int(reply["header"]["revision"]))
                return changes
        raise MeshError(f"{name}: changed concurrently {TXN_TRIES} times; try again",
                        ErrorCode.CONFLICT)

    def _caught_up(self, revision: int) -> None:
        """Reply once the local copy holds the write (read-your-writes), within a bound."""
        self.cache.wait_revision(revision, CATCH_UP_S)

    def _read(self, name: str) -> tuple[int, RegistryState]:
        revision, kvs = self.client.get_prefix(name_prefix(self.prefix, name))
        scratch = RegistryState()
        scratch.load([json.loads(kv.value) for kv in kvs])
        admitted = self.client.get(admit_key(self.prefix, name))
        if admitted is not None:
            scratch.admitted[name] = set(json.loads(admitted.value))
        return revision, scratch

    def deregister(self, instance_id: str) -> list[Change]:
        record = self.cache.records.get(instance_id)
        if record is None:
            return []
        self._check_up()
        revision = self.client.delete_revision(
            instance_key(self.prefix, record["name"], instance_id))
        lease = self.cache.leases.get(instance_id) or self._granted.pop(instance_id, 0)
        if lease:
            self.client.revoke(lease)
        self._caught_up(revision)
        return [("deregister", record)]

    # -- liveness ------------------------------------------------------------------------------
    def heartbeat(self, instance_id: str) -> None:
        """Answered from what this agent knows; the keeper sends the keep-alive to etcd.
        NotFoundError when the instance is gone (its lease expired): register again."""
        lease = self.cache.leases.get(instance_id)
        if lease:
            self._granted.pop(instance_id, None)  # only needed until the watch brings it
        else:
            lease = self._granted.get(instance_id, 0)
        if not lease or lease in self.keeper.expired:
            self._granted.pop(instance_id, None)
            raise NotFoundError("registry", "heartbeat", ErrorCode.NOT_FOUND,
                                f"instance {instance_id!r} is not registered")
        self._check_up()
        self.keeper.beat(lease)

    def expire(self) -> list[Change]:
        """etcd expires leases itself; what it deleted arrives through the watch."""
        return []

    def excuse(self, gap_s: float) -> None:
        """Nothing to give back: etcd, not this agent, times the leases."""

    # -- reads ---------------------------------------------------------------------------------
    def lookup(self, name: str | None = None, capability: str | None = None) -> list[dict]:
        return self.cache.lookup(name, capability)

    def age_s(self, instance_id: str) -> float | None:
        """Seconds since the instance's last keep-alive (granted TTL - TTL left); None while
        etcd does not answer."""
        lease = self.cache.leases.get(instance_id)
        if not lease or not self._available():
            return None
        try:
            left, granted = self.client.lease_ttl(lease)
        except EtcdUnavailable:
            return None
        return float(max(0, granted - left)) if left >= 0 else None
