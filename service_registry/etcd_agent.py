"""The registry agent of a mesh on etcd (``registry: {backend: etcd}``): one on every host.

It holds no state of its own.  Registrations are keys bound to leases in etcd
(:mod:`service_registry.etcd_state`); lookups, lists, snapshots and the change events on its
PUB socket come from a local copy fed by an etcd watch (:mod:`service_registry.etcd_cache`),
numbered by this agent exactly as the SQLite registry numbers its own, so clients and
``RegistryView`` watchers cannot tell the two apart.  While no etcd member with a quorum
answers, the agent is in the clear ``registry unavailable`` state: its health check is
critical, writes and heartbeats are refused with ``unavailable``, and lookups go on being
answered from the copy it holds; when etcd returns, the copy is re-read and every difference
published.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from common.base_agent import protocol
from common.base_agent.discovery import OP_TICK
from common.base_agent.errors import MeshError
from common.base_agent.health import CheckResult, Status
from common.base_agent.waker import Waker
from common.etcd import EtcdClient, EtcdUnavailable, Watcher
from service_registry.agent import REGISTRY_NAME, ServiceRegistry
from service_registry.etcd_cache import RegistryCache
from service_registry.etcd_keeper import LeaseKeeper
from service_registry.etcd_state import EtcdState
from service_registry.state import Change

__all__ = ["EtcdRegistry"]

log = logging.getLogger(__name__)

PREFIX = "/agentmesh/registry/"


class _NoBackend:
    """etcd is the store: nothing is persisted locally."""

    def load(self) -> tuple[int, list[dict[str, Any]]]:
        return 0, []

    def apply(self, seq: int, op: str, record: dict[str, Any]) -> None:
        """Changes reach etcd in EtcdState's transactions."""


class EtcdRegistry(ServiceRegistry):
    class Settings(ServiceRegistry.Settings):
        etcd_endpoints: list[str] = []  # the host plan derives them from registry.endpoints
        etcd_timeout_s: float = 1.0
        etcd_prefix: str = PREFIX

    settings: Settings

    def __init__(self, name: str = REGISTRY_NAME, endpoint: str = "tcp://127.0.0.1:0",
                 **kwargs: Any) -> None:
        kwargs.pop("backend", None)
        super().__init__(name, endpoint, backend=_NoBackend(), **kwargs)
        if not self.settings.etcd_endpoints:
            raise ValueError("EtcdRegistry needs settings.etcd_endpoints (registry.endpoints)")
        self._changed = Waker()  # the watcher wakes the loop: changes go out at once
        self.cache = RegistryCache(self.settings.etcd_prefix, self._changed.wake)
        client = EtcdClient(self.settings.etcd_endpoints, self.settings.etcd_timeout_s)
        self.watcher = Watcher(EtcdClient(self.settings.etcd_endpoints,
                                          self.settings.etcd_timeout_s),
                               self.settings.etcd_prefix, self.cache.reset, self.cache.apply)
        self.keeper = LeaseKeeper(EtcdClient(self.settings.etcd_endpoints,
                                             self.settings.etcd_timeout_s))
        state = EtcdState(client, self.cache, lambda: self.watcher.available, self.keeper)
        self.state = state  # type: ignore[assignment]
        self._own_registered = False

    def on_setup(self) -> None:
        self._bind_events()
        self.add_check(self)
        self.watch_socket(self._changed.open(), self._on_changes)
        self.watcher.start()
        self.keeper.start()
        if not self.watcher.wait_available(2 * self.settings.etcd_timeout_s):
            log.error("registry unavailable: no etcd member of %s answers; serving nothing "
                      "until one does", self.settings.etcd_endpoints)
        log.info("registry on etcd %s; events on %s", self.settings.etcd_endpoints,
                 self.events_endpoint)

    def check(self) -> CheckResult:
        """The agent's health: critical while etcd is unavailable."""
        held = len(self.cache.records)
        if self.watcher.available:
            return CheckResult("etcd", Status.PASSING, f"etcd available; {held} instances")
        return CheckResult("etcd", Status.CRITICAL,
                           f"registry unavailable: etcd unreachable; serving {held} cached "
                           "instances")

    def _on_changes(self) -> None:
        self._changed.drain()
        self._emit(self.cache.drain())

    def on_tick(self) -> None:
        self._emit(self.cache.drain())
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + self.heartbeat_interval_s
            self._keep_self()
            self._pub.send_multipart(protocol.encode_event(  # type: ignore[union-attr]
                protocol.TOPIC_REGISTRY, {"seq": self.seq, "op": OP_TICK}))

    def _keep_self(self) -> None:
        """The registry's own registration, kept alive once per interval."""
        if not self.watcher.available:
            return
        try:
            if self._own_registered:
                self.state.heartbeat(self.instance_id)
            else:
                self.state.register(self.registration())
                self._own_registered = True
        except EtcdUnavailable as exc:
            log.warning("registry: %s", exc)
        except MeshError as exc:  # not found (expired), a claim: register again next time
            log.warning("registry: own registration: %s", exc)
            self._own_registered = False

    def on_stop(self) -> None:
        if self._own_registered and self.watcher.available:
            try:
                self.state.deregister(self.instance_id)
            except EtcdUnavailable as exc:
                log.warning("registry: deregistering itself: %s", exc)
        self.watcher.stop()
        self.keeper.stop()
        self._changed.close()
        super().on_stop()

    def _publish(self, changes: list[Change]) -> None:
        """Writes are published when the watch brings them back (every host alike)."""

    def _emit(self, changes: list[Change]) -> None:
        for op, record in changes:
            self.seq += 1
            self._pub.send_multipart(protocol.encode_event(  # type: ignore[union-attr]
                protocol.TOPIC_REGISTRY, {"seq": self.seq, "op": op, "instance": record}))

    def info(self, payload: Any = None) -> dict[str, Any]:
        return {**super().info(payload), "backend": "etcd",
                "etcd": "available" if self.watcher.available else "unavailable"}
