"""The ServiceRegistry agent: register / deregister / heartbeat / lookup / list / watch.

Served on its ROUTER (the common protocol); change events go out on a PUB socket as
``[TOPIC_REGISTRY, HEADER, {"seq", "op", "instance"}]`` with a ``tick`` carrying the current
sequence number every heartbeat interval, so a watcher that missed the last event notices
(zguide Clone).  Instances expire after ``expiry_s(interval)`` of silence.  State is persisted
through a :class:`~service_registry.store.RegistryBackend` before each event is published.
With ``peer`` set (the host plan derives it when a host holds ``registry_replica``) it is one
of a Binary Star pair (service_registry.replica): only the active one takes writes, expires
instances and publishes changes; the passive one mirrors it and answers reads.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import zmq

from common.base_agent import protocol
from common.base_agent.agent import BaseAgent
from common.base_agent.discovery import OP_ADMIT, OP_TICK
from common.base_agent.errors import BadRequest
from common.base_agent.handlers import handler, require
from common.base_agent.heartbeat import expiry_s
from common.base_agent.settings import AgentSettings
from common.base_agent.sockets import bind, new_socket
from service_registry.bstar import PairRole
from service_registry.liveness import BatchLiveness
from service_registry.replica import WRITE_ACTIONS, Pair, PairHandlers
from service_registry.state import Change, RegistryState
from service_registry.store import AdmissionStore, RegistryBackend, SqliteBackend

__all__ = ["REGISTRY_NAME", "ServiceRegistry"]

log = logging.getLogger(__name__)

REGISTRY_NAME = "ServiceRegistry"
EVENTS_HWM = 100_000
STALL_S = 0.25  # a loop turn this late means the registry itself was not running


class ServiceRegistry(PairHandlers, BatchLiveness, BaseAgent):
    capabilities = ("service_registry",)
    service = "registry"

    class Settings(AgentSettings):
        db_path: str = ":memory:"  # the host plan derives it: global.log_dir/registry.db
        events_endpoint: str | None = None  # None: the declared ports.events_port, or any
        role: Literal["primary", "backup"] = "primary"  # derived: registry / registry_replica
        peer: str | None = None  # derived: the other registry of the pair

    settings: Settings

    def __init__(self, name: str = REGISTRY_NAME, endpoint: str = "tcp://127.0.0.1:0", *,
                 backend: RegistryBackend | None = None, **kwargs: Any) -> None:
        """Never registers with another registry."""
        kwargs.pop("registry", None)
        super().__init__(name, endpoint, registry=None, **kwargs)
        self.events_endpoint: str | None = self.settings.events_endpoint
        self.state = RegistryState()
        self.seq = 0
        self._backend = backend if backend is not None else SqliteBackend(
            self.settings.db_path)
        self._pub: zmq.Socket | None = None
        self._next_sweep = 0.0
        self._next_tick = 0.0
        self._last_turn = 0.0
        self.pair: Pair | None = None
        if self.settings.peer:
            self.pair = Pair(self, PairRole(self.settings.role), self.settings.peer)
            self._link_factories.append(self.pair.make_link)
            for action in WRITE_ACTIONS:
                self._gate(action)

    def _gate(self, action: str) -> None:
        """Writes reach the handler only on the active registry of a pair."""
        handlers = self._respond.handlers
        serve = handlers.get(action)
        if serve is None or self.pair is None:
            return
        pair = self.pair

        def gated(payload: Any) -> Any:
            pair.admit_write(action)
            return serve(payload)

        handlers[action] = gated

    def _bind_events(self) -> None:
        """Bind the events PUB on ``ports.events_port`` of the agent's own address (a
        subscriber revoked while connected is cut)."""
        self._pub = new_socket(self._ctx, zmq.PUB, hwm=EVENTS_HWM)  # type: ignore[arg-type]
        if self.zap is not None:
            self.zap.guard(self._pub)
        host = self.endpoint.rsplit(":", 1)[0]
        port = self.ports.get("events_port", 0)
        self.events_endpoint = bind(self._pub, self.events_endpoint or f"{host}:{port}")

    def on_setup(self) -> None:
        self._bind_events()
        self.seq, records = self._backend.load()
        log.info("registry: %d instances restored at seq %d; events on %s",
                 len(records), self.seq, self.events_endpoint)
        self.state.load(records)
        if isinstance(self._backend, AdmissionStore):
            for name, endpoints in self._backend.load_admitted().items():
                self.state.admit(name, endpoints)
        if self.pair is None:
            self._register_self(records)

    def _register_self(self, records: list[dict[str, Any]]) -> None:
        for old_self in [r for r in records if r["name"] == self.name]:
            self._publish(self.state.deregister(old_self["instance_id"]))
        self._publish(self.state.register(self.registration()))

    def on_tick(self) -> None:
        if self.pair is not None and not self.pair.active:
            self._tick_passive()
            return
        now = time.monotonic()
        gap = now - self._last_turn if self._last_turn else 0.0
        self._last_turn = now
        if gap > STALL_S:  # e.g. SIGSTOP: requests queued meanwhile may not all be read yet
            log.warning("registry: not running for %.2f s; instances get that time back", gap)
            self.state.excuse(gap)
        if now >= self._next_sweep:
            self._next_sweep = now + self.heartbeat_interval_s / 10
            self.state.heartbeat(self.instance_id)
            self._publish(self.state.expire())
        if now >= self._next_tick:
            self._next_tick = now + self.heartbeat_interval_s
            self._pub.send_multipart(protocol.encode_event(  # type: ignore[union-attr]
                protocol.TOPIC_REGISTRY, {"seq": self.seq, "op": OP_TICK}))

    def _tick_passive(self) -> None:
        """Mirror the active registry; publish only ticks (a view here then re-syncs)."""
        seq = self.seq
        self.pair.tick()  # type: ignore[union-attr]
        now = time.monotonic()
        if now >= self._next_tick or self.seq != seq:
            self._next_tick = now + self.heartbeat_interval_s
            self._pub.send_multipart(protocol.encode_event(  # type: ignore[union-attr]
                protocol.TOPIC_REGISTRY, {"seq": self.seq, "op": OP_TICK}))

    def adopt(self, records: list[dict[str, Any]], admitted: dict[str, list[str]],
              seq: int) -> None:
        """The passive registry takes the mirror's copy as its own, and stores it."""
        state = RegistryState()
        state.load(records)
        for name, endpoints in admitted.items():
            state.admit(name, list(endpoints))
        self.state, self.seq = state, seq
        if isinstance(self._backend, AdmissionStore):
            self._backend.replace(seq, records, admitted)

    def take_over(self) -> None:
        """Becoming active: from the mirror's last copy if there is one; every instance
        gets a full TTL from now to heartbeat here."""
        if self.pair is not None:
            self.pair.tick()
        self.state.excuse(float("inf"))
        self._last_turn = 0.0
        self._register_self(self.state.lookup())

    def on_stop(self) -> None:
        if self.pair is not None:
            self.pair.close()
        if self._pub is not None:
            self._pub.close(linger=0)
        close = getattr(self._backend, "close", None)
        if close is not None:
            close()

    def _publish(self, changes: list[Change]) -> None:
        for op, record in changes:
            self.seq += 1
            self._backend.apply(self.seq, op, record)
            if op == "expire":
                log.info("expired %s (%s)", record["name"], record["instance_id"])
            self._pub.send_multipart(protocol.encode_event(  # type: ignore[union-attr]
                protocol.TOPIC_REGISTRY, {"seq": self.seq, "op": op, "instance": record}))

    def hub_gauges(self) -> dict[str, Any]:
        """The registry's size for the hub (common.hub.GaugeSource)."""
        return {"registry_instances": len(self.state.records)}

    @handler(protocol.ACTION_REGISTER)
    def register(self, payload: Any) -> dict[str, Any]:
        changes = self.state.register(payload)
        self._publish(changes)
        record = changes[-1][1]
        return {"seq": self.seq, "expires_after_s": expiry_s(record["heartbeat_interval_s"])}

    @handler(protocol.ACTION_HEARTBEAT)
    def heartbeat_(self, payload: Any) -> dict[str, Any]:
        self.state.heartbeat(require(payload, "instance_id", str))
        return {"seq": self.seq}

    @handler(protocol.ACTION_DEREGISTER)
    def deregister(self, payload: Any) -> dict[str, Any]:
        changes = self.state.deregister(require(payload, "instance_id", str))
        self._publish(changes)
        return {"removed": bool(changes), "seq": self.seq}

    @handler("prefer")
    def prefer(self, payload: Any) -> dict[str, Any]:
        self._publish(self.state.prefer(require(payload, "instance_id", str)))
        return {"seq": self.seq}

    @handler("weights")
    def weights(self, payload: Any) -> dict[str, Any]:
        """Request ``weights {name, weights: {instance_id: number}}``: name's traffic shares
        (unlisted instances get 0); clients choose by weight from then on."""
        name = require(payload, "name", str)
        self._publish(self.state.set_weights(name, require(payload, "weights", dict)))
        return {"seq": self.seq}

    @handler("admit")
    def admit(self, payload: Any) -> dict[str, Any]:
        """Request ``admit {name, endpoints: [str]}``: instances of name at these endpoints may
        be registered together without ``multi`` (blue/green); ``endpoints: []`` ends it."""
        name = require(payload, "name", str)
        endpoints = require(payload, "endpoints", list)
        if not all(isinstance(e, str) for e in endpoints):
            raise BadRequest("payload.endpoints must be a list of strings")
        self.state.admit(name, endpoints)
        self.seq += 1
        admitted = {n: sorted(eps) for n, eps in self.state.admitted.items()}
        if isinstance(self._backend, AdmissionStore):
            self._backend.save_admitted(self.seq, admitted)
        self._pub.send_multipart(protocol.encode_event(  # type: ignore[union-attr]
            protocol.TOPIC_REGISTRY, {"seq": self.seq, "op": OP_ADMIT, "admitted": admitted}))
        return {"name": name, "endpoints": sorted(self.state.admitted.get(name, ()))}

    @handler(protocol.ACTION_LOOKUP)
    def lookup(self, payload: Any) -> list[dict[str, Any]]:
        name = require(payload, "name", str, None)
        capability = require(payload, "capability", str, None)
        if name is None and capability is None:
            raise BadRequest("payload.name or payload.capability is required")
        return self.state.lookup(name, capability)

    @handler(protocol.ACTION_LIST)
    def list_(self, payload: Any = None) -> list[dict[str, Any]]:
        return [dict(r, heartbeat_age_s=self.state.age_s(r["instance_id"]))
                for r in self.state.lookup()]

    @handler(protocol.ACTION_SNAPSHOT)
    def snapshot(self, payload: Any = None) -> dict[str, Any]:
        return {"seq": self.seq, "instances": self.state.lookup(),
                "admitted": {n: sorted(eps) for n, eps in self.state.admitted.items()}}

    @handler(protocol.ACTION_INFO)
    def info(self, payload: Any = None) -> dict[str, Any]:
        return {"name": self.name, "events_endpoint": self.events_endpoint, "seq": self.seq,
                "instances": len(self.state.records),
                "heartbeat_interval_s": self.heartbeat_interval_s,
                "pair": self.pair.status() if self.pair is not None else None}
