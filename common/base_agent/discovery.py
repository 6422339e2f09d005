"""Discovery: the registry's watch protocol, client side (zguide Clone pattern).

A :class:`RegistryView` keeps a live copy of every registered instance: it subscribes to the
registry's change events, takes a snapshot, and applies each event whose sequence number is the
next one.  A gap in the sequence (an event missed: a slow joiner, a dropped message, a registry
restart) or a periodic ``tick`` carrying a newer sequence number makes it re-sync from a fresh
snapshot.  With a registry pair (common.base_agent.registries) a view whose registry falls
silent (no event or tick for HEARTBEAT_LIVENESS of its intervals) follows the next one.
``on_change(name)`` is called for every name that changed (``None`` after a
re-sync), which is how a :class:`WatchingClient` keeps its cache of endpoints fresh.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from common.base_agent import protocol
from common.base_agent.client import Client
from common.base_agent.errors import MeshError, MeshTimeoutError
from common.base_agent.heartbeat import HEARTBEAT_LIVENESS
from common.base_agent.registries import RegistryRing
from common.base_agent.resolver import REGISTRY_PEER
from common.base_agent.sockets import connect

__all__ = ["OP_ADMIT", "OP_TICK", "RegistryView", "WatchingClient"]

log = logging.getLogger(__name__)

OP_TICK = "tick"
OP_ADMIT = "admit"  # {"seq", "op", "admitted": {name: [endpoint]}}: every admission now
POLL_MS = 50
RETRY_S = 0.2


class RegistryView:
    def __init__(self, registry: str, *, ctx: zmq.Context | None = None,
                 on_change: Callable[[str | None], None] | None = None,
                 events_endpoint: str | None = None) -> None:
        self.registry = registry
        self._ring = RegistryRing(registry)
        self.events_endpoint = events_endpoint
        self.instances: dict[str, dict[str, Any]] = {}  # instance_id -> record
        self.admitted: dict[str, list[str]] = {}  # name -> endpoints (the registry's `admit`)
        self.seq = 0
        self.resyncs = 0
        self.last_event_at = 0.0  # monotonic time of the last event or tick: the watch is live
        self.changed = threading.Condition()
        self._ctx = ctx or zmq.Context.instance()
        self._on_change = on_change
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None

    def start(self, timeout_s: float | None = 5.0) -> RegistryView:
        """Start watching; returns once the first snapshot is in (or raises), or at once
        when timeout_s is None."""
        self._thread = threading.Thread(target=self._run, name="registry-view", daemon=True)
        self._thread.start()
        if timeout_s is not None and not self._synced.wait(timeout_s):
            self.stop()
            raise self._error or MeshTimeoutError(REGISTRY_PEER, "snapshot", timeout_s, 1)
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def endpoints(self, name: str) -> list[str]:
        """Endpoints of name's live instances, preferred first."""
        found = [r for r in list(self.instances.values()) if r["name"] == name]
        found.sort(key=lambda r: (not r.get("preferred"), -r.get("registered_at", 0)))
        return [r["endpoint"] for r in found]

    def wait_for(self, predicate: Callable[[RegistryView], bool], timeout_s: float) -> bool:
        """Block until predicate(view) holds, or timeout_s passes."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout_s)

    # -- the watching thread -----------------------------------------------------------------
    def _run(self) -> None:
        client = Client(self.registry, ctx=self._ctx, source="registry-view")
        try:
            while not self._stop.is_set():
                endpoint = self._ring.endpoint
                try:
                    self._follow(client, endpoint)
                except MeshError as exc:
                    self._error = exc
                    log.warning("registry view: %s: %s", endpoint, exc)
                    self._stop.wait(RETRY_S)
                except zmq.ContextTerminated:
                    return  # its owner closed the context: the view is over
                if len(self._ring.endpoints) > 1 and not self._stop.is_set():
                    self._ring.advance()
                    log.warning("registry view: %s silent; following %s", endpoint,
                                self._ring.endpoint)
        finally:
            client.close()

    def _follow(self, client: Client, endpoint: str) -> None:
        """Watch the registry at endpoint until it falls silent (or the view stops)."""
        retries = 0 if len(self._ring.endpoints) > 1 else 2
        info = client.call_endpoint(endpoint, protocol.ACTION_INFO, peer=REGISTRY_PEER,
                                    retries=retries)
        events = (self.events_endpoint if len(self._ring.endpoints) == 1 else None) \
            or info["events_endpoint"]
        silence_s = HEARTBEAT_LIVENESS * float(info.get("heartbeat_interval_s") or 1.0)
        sub = connect(self._ctx, zmq.SUB, events)
        try:
            sub.setsockopt(zmq.SUBSCRIBE, protocol.TOPIC_REGISTRY)
            self._resync(client, endpoint)
            self._synced.set()
            self._loop(sub, client, endpoint, silence_s)
        finally:
            sub.close(linger=0)

    def _loop(self, sub: zmq.Socket, client: Client, endpoint: str, silence_s: float) -> None:
        heard = time.monotonic()
        while not self._stop.is_set():
            if not sub.poll(POLL_MS):
                if time.monotonic() - heard > silence_s:
                    return
                continue
            try:
                _, body = protocol.decode_event(sub.recv_multipart())
            except protocol.ProtocolError as exc:
                log.warning("bad registry event: %s", exc)
                continue
            with self.changed:
                heard = self.last_event_at = time.monotonic()
                self.changed.notify_all()
            if not self._apply(body) and not self._retrying_resync(client, endpoint, silence_s):
                return

    def _retrying_resync(self, client: Client, endpoint: str, limit_s: float) -> bool:
        deadline = time.monotonic() + limit_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self._resync(client, endpoint)
                return True
            except MeshError as exc:
                log.warning("re-sync failed (%s); retrying", exc)
                self._stop.wait(RETRY_S)
        return False

    def _resync(self, client: Client, endpoint: str) -> None:
        snap = client.call_endpoint(endpoint, protocol.ACTION_SNAPSHOT, peer=REGISTRY_PEER)
        with self.changed:
            self.instances = {r["instance_id"]: r for r in snap["instances"]}
            self.admitted = dict(snap.get("admitted") or {})
            self.seq = snap["seq"]
            self.resyncs += 1
            self.changed.notify_all()
        if self._on_change is not None:
            self._on_change(None)

    def _apply(self, body: dict[str, Any]) -> bool:
        """Apply one event; False when a gap means a re-sync is needed."""
        seq, op = body.get("seq"), body.get("op")
        if not isinstance(seq, int) or seq <= self.seq and op != OP_TICK:
            return True  # old news: already in the snapshot
        if op == OP_TICK:
            return seq == self.seq  # a newer (or, after a reset, older) sequence: re-sync
        if op == OP_ADMIT and seq == self.seq + 1 and isinstance(body.get("admitted"), dict):
            with self.changed:
                self.admitted, self.seq = dict(body["admitted"]), seq
                self.changed.notify_all()
            return True
        if seq != self.seq + 1:
            log.info("registry event %d after %d: missed %d, re-syncing",
                     seq, self.seq, seq - self.seq - 1)
            return False
        record = body.get("instance")
        if not (isinstance(record, dict) and isinstance(record.get("instance_id"), str)
                and isinstance(record.get("name"), str)):
            log.warning("registry event %d has no valid instance: re-syncing", seq)
            return False
        with self.changed:
            if op in ("register", "update"):
                self.instances[record["instance_id"]] = record
            else:
                self.instances.pop(record.get("instance_id", ""), None)
            self.seq = seq
            self.changed.notify_all()
        if self._on_change is not None:
            self._on_change(record.get("name"))
        return True


class WatchingClient(Client):
    """A Client whose cached endpoints follow the registry's change events: a moved or
    restarted agent is called at its new endpoint at once, not after a timeout."""

    def __init__(self, registry: str | None = None, **kwargs: Any) -> None:
        super().__init__(registry, **{"cache_ttl_s": None, **kwargs})  # events invalidate
        self.view: RegistryView | None = None
        if self.registry:
            self.view = RegistryView(self.registry, ctx=self._ctx, on_change=self.invalidate)
            self.view.start()

    def close(self) -> None:
        if self.view is not None:
            self.view.stop()
        super().close()
