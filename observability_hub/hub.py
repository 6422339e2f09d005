"""ObservabilityHub: central (MainPC) or edge (PC2) hub, one BaseAgent each.

Agents' HubLinks and launchers push to the hub of their host; the hub aggregates, rolls health
up the dependency graph, evaluates alert rules, and serves HTTP (see ``http.py``).  The edge
hub forwards what it receives to the central one through a bounded buffer and takes over
when the central hub dies (``states.py``).  The hub observes; it never starts or stops agents.

Settings: `observability_hub.settings.HubSettings` (``--settings`` JSON when run alone).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import zmq

from common.base_agent.agent import BaseAgent, LinkFactory
from common.base_agent.errors import BadRequest
from common.base_agent.handlers import handler, require
from common.base_agent.settings import AgentSettings, parse_settings
from common.base_agent.sockets import endpoint_host
from common.hub import protocol as hp
from common.hub.protocol import ProcessEvent, Role
from common.hub.report import build_report
from observability_hub.aggregate import Aggregator
from observability_hub.alerting import AlertBook
from observability_hub.alertmanager import AlertmanagerSink
from observability_hub.anomaly import ANOMALY_RULE
from observability_hub.batch import ALIVE, ReportBatchApi
from observability_hub.events import EventLog
from observability_hub.events_sync import EventSync
from observability_hub.failover import Failover
from observability_hub.history import History
from observability_hub.history_api import HistoryApi
from observability_hub.http import HttpFront
from observability_hub.leader import ElectedCentral
from observability_hub.notify import Fanout, Notifier
from observability_hub.pages import HubPagesMixin
from observability_hub.peer import ForwardBuffer, PeerLink
from observability_hub.relearn import Relearner
from observability_hub.rules import RULES
from observability_hub.settings import HubSettings
from observability_hub.signals import Signals
from observability_hub.slo import SloEngine
from observability_hub.slo_burn import SLO_RULES
from observability_hub.slo_events import log_incidents

__all__ = ["HUB_NAME", "ObservabilityHub"]

log = logging.getLogger(__name__)

HUB_NAME = "ObservabilityHub"
_HOSTS = {Role.CENTRAL: "main_pc", Role.EDGE: "pc2"}


class ObservabilityHub(ReportBatchApi, HistoryApi, HubPagesMixin, BaseAgent):
    capabilities = ("observability_hub",)
    service = "hub"
    Settings = HubSettings
    settings: HubSettings

    def __init__(self, name: str = HUB_NAME, endpoint: str = "tcp://127.0.0.1:0", *,
                 settings: AgentSettings | Mapping[str, Any] | None = None,
                 links: Sequence[LinkFactory] = (), **kwargs: Any) -> None:
        s = parse_settings(HubSettings, name, settings)
        self.role = Role(s.role)
        self.peer_endpoint = s.peer
        extra: list[LinkFactory] = [self._make_peer, self._make_event_sync] \
            if self.peer_endpoint else []
        super().__init__(name, endpoint, settings=s, links=[*links, *extra], **kwargs)
        self.lock = threading.Lock()
        self.aggregator = Aggregator(s.dependencies, s.hosts, s.max_unknown_agents)
        self.alerts = AlertBook(rules=(*RULES, ANOMALY_RULE, *SLO_RULES))
        self.slo = SloEngine(s.slos)
        self.signals = Signals(s.anomaly, s.dependencies)
        self.host_name = s.host_name or _HOSTS[self.role]
        other = Role.EDGE if self.role is Role.CENTRAL else Role.CENTRAL
        self.peer_host_name = s.peer_host_name or _HOSTS[other]
        self.buffer = ForwardBuffer(s.forward_buffer_max)
        self.failover = Failover(self.role, name, bool(self.peer_endpoint), self.buffer)
        self.elected = ElectedCentral(s.election, name, self.failover) if s.election else None
        self.http: HttpFront | None = None
        self.notifier = Notifier(s.alert_log, s.webhook_url)
        self.history = History(EventLog(_events_path(s, name), name, max_age_s=s.events.max_age,
                                        max_rows=s.events.max_rows), name, self.host_name)
        self.sinks = Fanout(self.notifier, self.history)
        self.slo.events = log_incidents(self.history.events)
        self.relearner = Relearner(s.launchers, self._relearned, f"hub {name}")
        self.alertmanager = AlertmanagerSink(s.alertmanager, name) if s.alertmanager else None
        self._own_seq = 0
        self._own_report: dict[str, Any] | None = None
        self._next_own = self._next_eval = 0.0

    def _make_peer(self, ctx: zmq.Context, agent: BaseAgent) -> PeerLink:
        self.failover.peer = PeerLink(ctx, self, self.peer_endpoint, self.name, self.buffer)
        return self.failover.peer

    def _make_event_sync(self, ctx: zmq.Context, agent: BaseAgent) -> EventSync:
        return EventSync(ctx, self.history.events, self.peer_endpoint, self.name)

    # -- lifecycle ---------------------------------------------------------------------------
    def on_setup(self) -> None:
        default_port = hp.CENTRAL_HTTP_PORT if self.role is Role.CENTRAL else hp.EDGE_HTTP_PORT
        s = self.settings
        host = s.http_host or endpoint_host(self.endpoint)
        if not host:
            raise ValueError(f"settings.http_host: the hub's endpoint {self.endpoint} is not tcp, "
                             f"so it names no address to serve the dashboard on; give one")
        token = s.api_token or os.environ.get("MESH_HUB_TOKEN", "")
        port = default_port if s.http_port is None else s.http_port
        self.http = HttpFront(self, host, port, token)
        self.http.start()
        with self.lock:
            self.history.started(self.role.value, self.failover.state.value)
            self.history.restore(self.alerts)
        self.relearner.start()
        if self.elected is not None:
            self.elected.start(self.ctx)
        if self.alertmanager is not None:
            self.alertmanager.hub_url = self.http.url
            self.alertmanager.start()
        log.info("%s hub %s: http %s, state %s", self.role.value, self.name, self.http.url,
                 self.failover.state.value)

    def on_stop(self) -> None:
        if self.elected is not None:
            self.elected.stop()
        if self.http is not None:
            self.http.close()
        self.notifier.close()
        self.relearner.close()
        if self.alertmanager is not None:
            self.alertmanager.close()
        self.history.events.close()
        self.slo.close()

    def on_tick(self) -> None:
        now = time.monotonic()
        if self.elected is not None:
            with self.lock:
                self.elected.drive()
        if now >= self._next_own:
            self._next_own = now + self.heartbeat_interval_s
            self._own_seq += 1
            body = {**build_report(self, self._own_seq, False), "host_name": self.host_name}
            self._own_report = body
            with self.lock:
                self._take("report", body, now)
        if now >= self._next_eval:
            self._next_eval = now + self._eval_interval_s()
            with self.lock:
                self.signals.forget(self.aggregator.prune(now))
                view = self._view()
                self.signals.tick(view, self._live_actions(now), now, time.time())
                view["anomalies"] = self.signals.anomalies()
                if self.failover.active:
                    self.slo.tick(self._slo_agents(now), time.time())
                view["slos"] = self.slo.state
                sink = self.sinks if self.failover.active else None
                self.alerts.evaluate(view, sink)
                self._evaluated(view)

    def _eval_interval_s(self) -> float:
        """Once per heartbeat interval, the pace at which an agent's state changes (a report,
        or its silence measured in intervals), and at least once per anomaly step: each
        evaluation builds the view of every agent."""
        return min(self.heartbeat_interval_s, self.signals.cfg.step_s)

    def _evaluated(self, view: dict[str, Any]) -> None:
        """The event log and Alertmanager after an evaluation (lock held)."""
        active = self.failover.active
        alerts = self.alerts.document()["alerts"]
        self.history.evaluated(view, self.failover.state.value, active)
        self.history.held_back(alerts, active)
        self.history.reapply_acks(self.alerts)
        if self.alertmanager is not None:
            firing = [a for a in alerts if a["state"] == "firing" and not a["silenced"]]
            self.alertmanager.update(firing if active else None)

    def _relearned(self, host: str, status: dict[str, Any]) -> None:
        with self.lock:
            self.history.relearned(self.aggregator, host, status)

    # -- the peer link's callbacks (PeerHost; loop thread) ------------------------------------
    def on_peer_state(self, state: str) -> None:
        with self.lock:
            try:
                self.failover.on_peer_state(state)
            except ValueError as exc:  # FailoverError (two central hubs?) or an unknown state
                log.error("%s: ignoring the peer hub's state %r: %s", self.name, state, exc)

    def peer_beat(self) -> dict[str, Any]:
        """Our state, and our latest own report once, so each hub lists the other."""
        beat: dict[str, Any] = {"hub": self.name, "role": self.role.value,
                                "state": self.failover.state.value}
        if self._own_report is not None and not self.forwarding():  # else it is in the buffer
            beat["report"], self._own_report = self._own_report, None
        return beat

    def forwarding(self) -> bool:
        return self.failover.forwarding()

    def wants_sync(self) -> bool:
        return self.failover.needs_sync

    def on_synced(self, items: list[dict[str, Any]]) -> None:
        with self.lock:
            self._ingest_items(items)
            self.failover.synced()

    # -- ingestion (under self.lock) ---------------------------------------------------------
    def _take(self, kind: str, body: dict[str, Any], seen_at: float) -> None:
        if kind == "report":
            self.aggregator.ingest_report(body, seen_at)
            self.signals.heard(str(body["agent"]), seen_at)
        elif kind == ALIVE:  # a launcher's word that the agent's loop runs (batch module)
            if self.aggregator.touch(str(body["agent"]), str(body["instance_id"]), seen_at):
                self.signals.heard(str(body["agent"]), seen_at)
        elif self.history.process_event(body):
            self.aggregator.ingest_event(body, seen_at)
        if self.forwarding():
            self.buffer.add(kind, seen_at, body)

    def _ingest_items(self, items: list[dict[str, Any]]) -> int:
        now = time.monotonic()
        taken = 0
        for item in items:
            try:
                kind, body = item["kind"], item["body"]
                seen_at = now - float(item.get("age_s") or 0.0)
                self._take(kind if kind in ("report", ALIVE) else "event", body, seen_at)
                taken += 1
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("dropped a forwarded item: %r", exc)
        return taken

    def _reply(self) -> dict[str, Any]:
        return {"hub": self.name, "role": self.role.value, "state": self.failover.state.value,
                "peer_state": self.failover.peer_state}

    # -- handlers ----------------------------------------------------------------------------
    @handler(hp.ACTION_REPORT)
    def on_report(self, payload: Any, seen_at: float | None = None) -> dict[str, Any]:
        """seen_at: when the report was made, if before now (a launcher's batch)."""
        require(payload, "agent", str)
        require(payload, "seq", int)
        require(payload, "health", dict)
        host = self.peer_host_name if payload.get("failover") else self.host_name
        body = {**payload, "host_name": payload.get("host_name") or host}
        with self.lock:
            self.failover.vote(body)
            self._take("report", body, time.monotonic() if seen_at is None else seen_at)
            return self._reply()

    @handler(hp.ACTION_PROCESS_EVENTS)
    def on_process_events(self, payload: Any) -> dict[str, Any]:
        events = require(payload, "events", list)
        failover = bool(payload.get("failover"))
        bodies = [{**_process_event(event, f"payload.events[{i}]"), "failover": failover}
                  for i, event in enumerate(events)]  # all checked before any is taken
        with self.lock:
            self.failover.vote(payload)
            now = time.monotonic()
            for body in bodies:
                self._take("event", body, now)
            return self._reply()

    @handler(hp.ACTION_PEER)
    def on_peer(self, payload: Any) -> dict[str, Any]:
        state = require(payload, "state", str)
        if self.failover.peer is not None:
            self.failover.peer.heard(state)
        with self.lock:
            if isinstance(payload.get("report"), dict):
                self.aggregator.ingest_report(payload["report"], time.monotonic())
            return self._reply()

    @handler(hp.ACTION_FORWARD)
    def on_forward(self, payload: Any) -> dict[str, Any]:
        items = require(payload, "items", list)
        with self.lock:
            return {"accepted": self._ingest_items(items)}

    @handler(hp.ACTION_SYNC)
    def on_sync(self, payload: Any) -> dict[str, Any]:
        with self.lock:
            items = [{**item, "body": {**item["body"], "resync": True}}
                     for item in self.aggregator.sync_items(time.monotonic())]
            self.failover.handed_over()
            return {"items": items}

    @handler(hp.ACTION_SNAPSHOT)
    def on_snapshot(self, payload: Any) -> dict[str, Any]:
        return self.health_document()

    @handler(hp.ACTION_ALERTS)
    def on_alerts(self, payload: Any) -> dict[str, Any]:
        return self.alerts_document()

    @handler(hp.ACTION_INFO)
    def on_info(self, payload: Any) -> dict[str, Any]:
        with self.lock:
            return self.hub_status()

    # -- documents (HubPages; any thread) ----------------------------------------------------
    def hub_status(self) -> dict[str, Any]:
        registry = next((link for link in self.links if link.name == "registry"), None)
        return {"name": self.name, **self.failover.status(), "host": self.host_name,
                "endpoint": self.endpoint, "http_url": self.http.url if self.http else "",
                "peer": self.peer_endpoint, "registry_up": getattr(registry, "registered", None)}

    def _slo_agents(self, now: float) -> dict[str, tuple[str, dict[str, Any] | None, bool]]:
        return {r.name: (r.instance_id, r.report.get("actions") if r.report else None, r.up(now))
                for r in self.aggregator.records.values()}


def _events_path(settings: HubSettings, name: str) -> str:
    """The event log's file: derived by the host plan; a hub run alone keeps it in
    $MESH_STATE_DIR, or in memory (nothing survives) without one."""
    if settings.events_db:
        return settings.events_db
    state_dir = os.environ.get("MESH_STATE_DIR")
    if state_dir:
        return os.path.join(state_dir, f"{name}.events.db")
    log.warning("hub %s: no events_db and no MESH_STATE_DIR: the event log is in memory", name)
    return ":memory:"


def _process_event(event: Any, where: str) -> dict[str, Any]:
    """One launcher process event, checked: a dict with ``agent`` and a known ``event``."""
    if not isinstance(event, dict):
        raise BadRequest(f"{where} must be an object")
    if not isinstance(event.get("agent"), str):
        raise BadRequest(f"{where}.agent must be a string")
    try:
        ProcessEvent(event.get("event"))
    except ValueError:
        raise BadRequest(f"{where}.event must be one of "
                         f"{[e.value for e in ProcessEvent]}") from None
    return dict(event)
