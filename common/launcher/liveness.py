"""One liveness report per host: the launcher speaks for its agents to the registry and hub.

The launcher probes every agent it runs (every ``health.interval_s``); each probe of a mesh
agent vouches for it (common.base_agent.vouch), and its reply carries the agent's instance id
and next hub report.  Between probes, each agent's loop stamps the time into its slot of the
launcher's stamp file (common.base_agent.stamp): no message.  Once per heartbeat interval the
launcher sends ``heartbeat_batch {instance_ids}`` to the registry and ``hub_report_batch
{host, reports, alive}`` to its host's hub (failing over to the other hub as an agent's own
HubLink does: same ack timeout, same return home), with the agents whose probe answered or
whose stamp is fresher than one interval.  An agent that hangs stops stamping and answering,
so it drops out of the next batch and falls silent at the registry and hub as if it beat on
its own (its stamp's age dates it at the hub).  An agent whose process exits is named in the
registry batch's ``gone`` at once (the batch goes out early): the registry deregisters it and
tells every watching client, instead of expiring it 2.5 intervals later while callers time
out on it (a batch that is lost leaves it to that expiry).  Ids the registry does not know
come back in its reply; each such agent is probed at once (not at its next probe), the probe
says so, and the agent registers again at once: after a partition that outlasted the
registry's expiry, within about one batch interval of the heal (it took up to a probe
interval and a heartbeat interval more).

Three messages per agent per heartbeat interval (probe, registry heartbeat, hub report)
become one probe per agent per health interval plus two messages per host per heartbeat
interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import zmq

from common.base_agent import protocol
from common.base_agent.key_switch import (
    ServerKeyWatch,
    close_watched,
    key_stale,
    server_leaving,
    watch_if_rotating,
)
from common.base_agent.protocol import ErrorCode, Request
from common.base_agent.registries import registry_endpoints
from common.base_agent.sockets import connect, replies
from common.base_agent.vouch import VOUCH
from common.hub.link import PEER_GONE, ack_timeout_s
from common.hub.protocol import ACTION_REPORT_BATCH

__all__ = ["LivenessBatch"]

log = logging.getLogger(__name__)

Watch = Callable[[zmq.Socket, Callable[[], None]], None]


class _Peer:
    """One DEALER to one of several endpoints, with the request awaiting its reply."""

    def __init__(self, ctx: zmq.Context, endpoints: list[str], watch: Watch,
                 unwatch: Callable[[zmq.Socket], None], on_reply: Callable[[Any], None]) -> None:
        self.endpoints, self.index = endpoints, 0
        self._ctx, self._watch, self._unwatch, self._on_reply = ctx, watch, unwatch, on_reply
        self._sock: zmq.Socket | None = None
        self._key: ServerKeyWatch | None = None  # its handshakes, while the host key rotates
        self.pending: tuple[str, float, Any] | None = None  # request id, sent at, payload
        self._request: Request | None = None  # the pending one: sent again if `rebinding`

    @property
    def endpoint(self) -> str:
        return self.endpoints[self.index]

    def send(self, action: str, payload: Any, source: str) -> None:
        if self._sock is not None and key_stale(self._key, self.endpoint, self._sock):
            self.close()  # its host's key rotates: a socket offering the key it serves now
        if self._sock is None:
            self._sock = connect(self._ctx, zmq.DEALER, self.endpoint, hwm=4)
            self._key = watch_if_rotating(self._sock, self.endpoint)
            self._watch(self._sock, self._drain)
        req = Request(action, payload, source=source)
        self.pending = (req.id, time.monotonic(), payload)
        self._request = req
        try:
            self._sock.send_multipart(protocol.encode_request(req), zmq.NOBLOCK)
        except zmq.Again:  # not connected yet: the reply deadline decides
            pass

    def switch(self, index: int) -> None:
        self.close()
        self.index = index

    def _drain(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for reply in list(replies(sock, self.endpoint)):
            if self.pending is None or reply.id != self.pending[0]:
                continue
            if reply.code == ErrorCode.REBINDING and self._request is not None:
                server_leaving(self._key, self.endpoint)  # not served: to its next key, again
                req, self._request = self._request, None
                self.close()
                self.send(req.action, req.payload, req.source)
                return
            self.pending = None
            self._on_reply(reply)

    def close(self) -> None:
        if self._sock is not None:
            self._unwatch(self._sock)
            close_watched(self._sock, self._key, self.endpoint)
            self._key = self._sock = None
        self.pending = None


class LivenessBatch:
    """Gathers probe replies (``answered``) and sends the host's batches (``tick``)."""

    def __init__(self, ctx: zmq.Context, host: str, registry: str | None, hubs: list[str],
                 interval_s: float, watch: Watch, unwatch: Callable[[zmq.Socket], None],
                 probe_now: Callable[[str], None]) -> None:
        self.host, self.interval_s = host, interval_s
        self._probe_now = probe_now  # an agent the registry does not know: tell it now
        self.source = f"Launcher-{host}"
        self.ack_timeout_s = ack_timeout_s(interval_s)
        self.home_hold_s = max(1.0, 2 * interval_s)
        self._registry = _Peer(ctx, registry_endpoints(registry), watch, unwatch,
                               self._on_registry) if registry else None
        self._hub = _Peer(ctx, list(hubs), watch, unwatch, self._on_hub) if hubs else None
        self._ids: dict[str, str] = {}  # key -> instance id, answered since the last batch
        self._known: dict[str, tuple[str, str, bool]] = {}  # key -> (name, instance id,
        # registered), from its latest probe reply: what a fresh stamp stands for
        self._reports: dict[str, tuple[float, dict[str, Any]]] = {}  # key -> (got at, report)
        self._owner: dict[str, str] = {}  # instance id -> key, for the registry's `unknown`
        self._unregistered: set[str] = set()  # keys to tell on their next probe
        self._gone: list[str] = []  # instance ids whose process exited, for the next batch
        self._next_batch = 0.0
        self._away_since = 0.0
        self.batches_sent = 0

    def request(self, key: str, hold_s: float) -> dict[str, Any]:
        """The payload of key's next health probe: the vouch, for hold_s."""
        return {VOUCH: {"hold_s": hold_s, "unregistered": key in self._unregistered}}

    def answered(self, key: str, reply: dict[str, Any]) -> None:
        """key answered a vouching probe with reply (its health report and what its links
        added)."""
        registry = reply.get("registry")
        name, iid = reply.get("name"), reply.get("instance_id")
        if isinstance(name, str) and isinstance(iid, str):
            registered = isinstance(registry, dict) and registry.get("registered") is True
            self._known[key] = (name, iid, registered)
        if isinstance(registry, dict) and isinstance(registry.get("instance_id"), str):
            self._unregistered.discard(key)
            if registry.get("registered") is True:
                self._ids[key] = registry["instance_id"]
                self._owner[registry["instance_id"]] = key
        report = reply.get("hub_report")
        if isinstance(report, dict):
            self._reports[key] = (time.monotonic(), {**report, "host_name": self.host})

    def exited(self, key: str) -> None:
        """key's process exited: the registry hears it in a batch sent now."""
        known = self._known.get(key)
        if known is not None and known[2]:
            self._gone.append(known[1])
            self._next_batch = 0.0
        self.forget(key)

    def forget(self, key: str) -> None:
        """Nothing of key goes in the next batch (its process is gone, or silent)."""
        self._ids.pop(key, None)
        self._known.pop(key, None)
        self._reports.pop(key, None)
        self._unregistered.discard(key)
        for iid in [i for i, k in self._owner.items() if k == key]:
            del self._owner[iid]

    def due(self, now: float) -> bool:
        """Whether tick sends the batches now."""
        return now >= self._next_batch

    def tick(self, now: float, stamped: dict[str, float] | None = None) -> None:
        """Send the batches when due; stamped: key -> age of its stamp, for the ready agents
        whose loops turned within the interval."""
        if self._hub is not None and self._hub.pending is not None \
                and now - self._hub.pending[1] > self.ack_timeout_s:
            self._hub_failover()
        if now < self._next_batch:
            return
        self._next_batch = now + self.interval_s
        alive = []
        for key, age in (stamped or {}).items():
            known = self._known.get(key)
            if known is None:
                continue
            if known[2]:
                self._ids.setdefault(key, known[1])
                self._owner[known[1]] = key
            if key not in self._reports:
                alive.append({"agent": known[0], "instance_id": known[1],
                              "age_s": round(age, 3)})
        if self._registry is not None and (self._ids or self._gone):
            if self._registry.pending is not None:  # the last one unanswered: a fresh socket,
                self._registry.switch(self._next_registry())  # the next of a registry pair
            self._registry.send(protocol.ACTION_HEARTBEAT_BATCH,
                                {"instance_ids": list(self._ids.values()),
                                 "gone": self._gone}, self.source)
            self._gone = []
        if self._hub is not None and (self._reports or alive) and self._hub.pending is None:
            away = self._hub.index != 0
            reports = [{**r, "failover": away, "age_s": round(now - at, 3)}
                       for at, r in self._reports.values()]
            self._hub.send(ACTION_REPORT_BATCH, {"host": self.host, "reports": reports,
                                                 "alive": alive}, self.source)
        self._ids.clear()
        self._reports.clear()
        self.batches_sent += 1

    def _next_registry(self) -> int:
        assert self._registry is not None
        return (self._registry.index + 1) % len(self._registry.endpoints)

    def _on_registry(self, reply: protocol.Reply) -> None:
        if reply.code == ErrorCode.PASSIVE:  # the passive one of a pair: the other is active
            self._registry.switch(self._next_registry())  # type: ignore[union-attr]
            return
        if not reply.ok or not isinstance(reply.result, dict):
            log.warning("registry refused a heartbeat batch: %s %s", reply.code, reply.message)
            return
        for iid in reply.result.get("unknown", []):
            key = self._owner.pop(iid, None)
            if key is not None:
                self._unregistered.add(key)
                self._probe_now(key)

    def _hub_failover(self) -> None:
        assert self._hub is not None and self._hub.pending is not None
        payload, waited = self._hub.pending[2], time.monotonic() - self._hub.pending[1]
        if len(self._hub.endpoints) == 1:
            self._hub.pending = None  # nowhere else: the next batch carries fresh reports
            return
        old = self._hub.endpoint
        self._hub.switch((self._hub.index + 1) % len(self._hub.endpoints))
        self._away_since = time.monotonic()
        log.warning("hub %s silent for %.2f s; %s reports to %s", old, self.ack_timeout_s,
                    self.host, self._hub.endpoint)
        away = self._hub.index != 0
        self._hub.send(ACTION_REPORT_BATCH, {**payload, "reports": [
            {**r, "failover": away, "age_s": round(r["age_s"] + waited, 3)}
            for r in payload["reports"]], "alive": [
            {**a, "age_s": round(a["age_s"] + waited, 3)} for a in payload["alive"]]},
            self.source)

    def _on_hub(self, reply: protocol.Reply) -> None:
        assert self._hub is not None
        if not reply.ok:
            log.warning("hub %s refused a report batch: %s %s", self._hub.endpoint, reply.code,
                        reply.message)
            return
        result = reply.result if isinstance(reply.result, dict) else {}
        if self._hub.index != 0 and time.monotonic() - self._away_since >= self.home_hold_s \
                and result.get("peer_state", "") not in PEER_GONE:
            log.info("home hub %s is back; %s reports there", self._hub.endpoints[0], self.host)
            self._hub.switch(0)

    def close(self) -> None:
        for peer in (self._registry, self._hub):
            if peer is not None:
                peer.close()
