"""BaseAgent: the small agent core.  Lifecycle ``setup -> start -> stop -> kill``.

``__init__`` opens no socket and starts no thread.  ``setup`` binds the ROUTER (port 0 picks a
free one); ``start`` runs the loop in a thread, ``run`` in the calling thread with SIGTERM and
SIGINT wired to a graceful stop.  The registry link, metrics registry and zmq context are
injected.  Subclasses add ``@handler`` methods, health checks, and the ``on_setup``,
``on_tick`` and ``on_stop`` hooks.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import zmq
from prometheus_client import CollectorRegistry

from common.base_agent import protocol
from common.base_agent.backlog import Backlog
from common.base_agent.errors import MeshError
from common.base_agent.handlers import collect_handlers, handler, require
from common.base_agent.health import HealthCheck, Status, legacy_status, run_check, worst
from common.base_agent.heartbeat import HEARTBEAT_INTERVAL_S, Heartbeat
from common.base_agent.links import Link
from common.base_agent.logs import bind_agent_name
from common.base_agent.metrics import AgentMetrics
from common.base_agent.parked import ParkedRequest, ParkedRequests
from common.base_agent.registration import RegistryLink
from common.base_agent.requests import RequestHandler
from common.base_agent.security import rebind_rotated
from common.base_agent.settings import AgentSettings, parse_settings
from common.base_agent.sockets import (
    NOBLOCK,
    bind,
    endpoint_host,
    new_socket,
    send_frames,
)
from common.base_agent.stamp import LivenessStamp
from common.base_agent.vouch import vouch_request
from common.base_agent.waker import Waker
from common.base_agent.zap import ZapResponder, open_responder

__all__ = ["STOP_TIMEOUT_S", "BaseAgent", "LinkFactory", "Pollable"]

Pollable = zmq.Socket | int
LinkFactory = Callable[[zmq.Context, "BaseAgent"], Link]  # called once the agent's ctx exists

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
POLL_MS = 50  # the default tick of an agent with on_tick; a stop wakes the loop at once
IDLE_POLL_S = 60.0  # an agent without on_tick wakes only for input, its links' timers, a stop,
# or (under a launcher) the fork server's SIGUSR1 when the launcher is stuck (common.spawn.stall);
# this bound is a safety net, not a timer anything waits for
DRAIN_MAX = 256  # requests handled per wake-up before timers get a turn
DRAIN_BUDGET_S = 0.1  # ... or this long: heartbeats and acks must not wait behind a queue


class BaseAgent:
    version = "0.1.0"
    capabilities: tuple[str, ...] = ()
    tick_interval_s = POLL_MS / 1000  # how often on_tick runs (when a subclass defines one)
    Settings: ClassVar[type[AgentSettings]] = AgentSettings  # its `settings:` (extend per class)
    service: ClassVar[str | None] = None  # the mesh service it provides: registry|hub|model_manager

    def __init__(self, name: str, endpoint: str = "tcp://127.0.0.1:0", *,
                 registry: str | None = None, host: str = "",
                 settings: AgentSettings | Mapping[str, Any] | None = None,
                 metrics_registry: CollectorRegistry | None = None,
                 ctx: zmq.Context | None = None,
                 heartbeat_interval_s: float = HEARTBEAT_INTERVAL_S,
                 multi_instance: bool = False, metadata: dict[str, Any] | None = None,
                 links: Sequence[LinkFactory] = (), ports: dict[str, int] | None = None) -> None:
        self.name = name
        self.endpoint = endpoint
        self.registry_endpoint = registry
        self.host = host or endpoint_host(endpoint)
        self.settings = parse_settings(self.Settings, name, settings)  # SettingsError if bad
        self.ports = dict(ports or {})  # declared extra ports (pub_port, ...), by name
        self.metrics = AgentMetrics(name, metrics_registry)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.instance_id = f"{name}-{uuid.uuid4().hex[:8]}"
        self.multi_instance = multi_instance
        self.metadata = dict(metadata or {})
        self.ready = threading.Event()
        self._ctx = ctx
        self._own_ctx = ctx is None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._router: zmq.Socket | None = None
        self.zap: ZapResponder | None = None  # CURVE mode: who may connect to our sockets
        self._link_factories = list(links)
        self.links: list[Link] = []
        self._started_at = 0.0
        self._checks: list[HealthCheck] = []
        self.parked = ParkedRequests()  # requests a handler parked (common.base_agent.parked)
        self._respond = RequestHandler(collect_handlers(self), self.metrics, name, self.parked)
        self._pollees: dict[Pollable, Callable[[], None]] = {}
        self._poller = zmq.Poller()
        self._waker = Waker()  # a stop wakes the loop out of its poll at once
        self._ticks = type(self).on_tick is not BaseAgent.on_tick
        self._backlog = Backlog(self._respond, self._respond.unserved)  # requests read by
        # pump() while a handler waits; it settles the ROUTER before a key rebind
        self.stamp: LivenessStamp | None = None  # set by the launcher's child (stamp module)

    # -- lifecycle ---------------------------------------------------------------------------
    def setup(self) -> None:
        """Open and bind sockets; raises at once if the endpoint cannot be bound."""
        bind_agent_name(self.name)
        if self._ctx is None:
            self._ctx = zmq.Context()
        self._router = new_socket(self._ctx, zmq.ROUTER)
        self._waker.open()
        try:
            self.zap = open_responder(self._ctx)  # before any bind: handshakes ask it
            if self.zap is not None:
                self.watch_socket(self.zap.socket, self.zap.on_readable)
                self._backlog.recv = self.zap.recv  # every request checked against the list
            self.endpoint = bind(self._router, self.endpoint)
            if self.zap is not None:  # peers failing the handshake, with their addresses
                self.zap.watch(self._router, self.name)
            self.host = self.host or endpoint_host(self.endpoint)
            self.on_setup()
        except BaseException:
            self._teardown(deregister=False)
            raise
        if self.registry_endpoint:
            self.links.append(RegistryLink(self._ctx, self.registry_endpoint,
                                           self.registration(),
                                           Heartbeat(self.heartbeat_interval_s)))
        self.links.extend(factory(self._ctx, self) for factory in self._link_factories)
        self._started_at = time.monotonic()

    def start(self) -> None:
        """setup() if needed, then serve in a background thread."""
        if self._router is None:
            self.setup()
        self._thread = threading.Thread(target=self._serve, name=f"agent-{self.name}",
                                        daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Serve in this thread until SIGTERM/SIGINT or stop(); the CLI's foreground mode."""
        if self._router is None:
            self.setup()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.request_stop())
            signal.signal(signal.SIGUSR1, lambda *_: self._waker.wake())  # a turn: check the
            # launcher's stamp (common.base_agent.stamp)
        self._serve()

    def request_stop(self) -> None:
        """What SIGTERM/SIGINT do in run(): end the loop.  Override for an ordered stop."""
        self._stopping.set()
        self._waker.wake()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Ask the loop to finish and wait up to timeout_s; True if it stopped in time."""
        self._stopping.set()
        self._waker.wake()
        if self._thread is None:
            self._teardown()
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def kill(self) -> None:
        """Stop at once, without deregistering; idempotent and never raises."""
        try:
            self._stopping.set()
            self._waker.wake()
            if self._thread is not None:
                self._thread.join(POLL_MS * 4 / 1000)
            if self._thread is None or self._thread.is_alive():
                self._teardown(deregister=False)
        except Exception:  # kill must not raise
            log.debug("kill of %s ignored an error", self.name, exc_info=True)

    # -- hooks -------------------------------------------------------------------------------
    def on_setup(self) -> None:
        """Open extra sockets (use :meth:`watch_socket` for ones to poll)."""

    def on_tick(self) -> None:
        """Called from the loop at least every ``tick_interval_s``; timers live here."""

    def on_stop(self) -> None:
        """Release resources; called from the loop thread before sockets close."""

    def add_check(self, check: HealthCheck) -> None:
        self._checks.append(check)

    def watch_socket(self, sock: Pollable, on_readable: Callable[[], None]) -> None:
        """Poll sock (a zmq socket or a file descriptor) in the loop; call on_readable on input.

        Call from setup hooks or from the loop thread; the owner closes sock (in on_stop).
        """
        self._pollees[sock] = on_readable
        self._poller.register(sock, zmq.POLLIN)

    def unwatch_socket(self, sock: Pollable) -> None:
        if self._pollees.pop(sock, None) is not None:
            self._poller.unregister(sock)

    def registration(self) -> dict[str, Any]:
        """The record sent to the registry."""
        return {"name": self.name, "instance_id": self.instance_id, "host": self.host,
                "endpoint": self.endpoint, "capabilities": list(self.capabilities),
                "version": self.version, "pid": os.getpid(), "multi": self.multi_instance,
                "metadata": self.metadata, "heartbeat_interval_s": self.heartbeat_interval_s}

    # -- built-in handlers -------------------------------------------------------------------
    @handler(protocol.ACTION_HEALTH)
    def health(self, payload: Any = None) -> dict[str, Any]:
        results = [run_check(c) for c in [*self._checks, *self.links]]
        report = {"status": worst(results).value, "name": self.name,
                "instance_id": self.instance_id, "uptime_s": self.uptime_s(),
                "pid": os.getpid(), "version": self.version, "host": self.host,
                "endpoint": self.endpoint, "checks": [r.as_dict() for r in results],
                "metrics": self.metrics.snapshot()}
        vouch = vouch_request(payload)
        if vouch is not None:  # the launcher speaks for us (common.base_agent.vouch)
            for link in self.links:
                vouched = getattr(link, "vouched", None)
                if vouched is not None:
                    report.update(vouched(vouch, report))
        return report

    @handler("traffic")
    def traffic(self, payload: Any = None) -> dict[str, Any]:
        """``traffic {after?: wall seconds, action?: str}``: the requests this instance served
        since then, one by one (common.base_agent.traffic), with its instance id."""
        after = float(require(payload, "after", int | float, 0.0)) if payload else 0.0
        action = require(payload, "action", str, None) if payload else None
        return {"instance_id": self.instance_id, **self.metrics.traffic.since(after, action)}

    @handler(protocol.ACTION_LEGACY_HEALTH)
    def legacy_health(self, payload: Any = None) -> dict[str, Any]:
        report = self.health()
        report["status"] = legacy_status(Status(report["status"]))
        return report

    @property
    def ctx(self) -> zmq.Context:
        """The zmq context, for sockets opened in on_setup (valid after setup)."""
        assert self._ctx is not None, "ctx is available from setup() on"
        return self._ctx

    def uptime_s(self) -> float:
        return round(time.monotonic() - self._started_at, 3) if self._started_at else 0.0

    # -- the loop ----------------------------------------------------------------------------
    def _serve(self) -> None:
        bind_agent_name(self.name)
        self._poller.register(self._router, zmq.POLLIN)
        self.watch_socket(self._waker.read_fd, self._waker.drain)
        polled: list[zmq.Socket | None] = [None] * len(self.links)
        self._backlog.owner = threading.get_ident()
        self.ready.set()
        log.info("%s serving on %s (pid %d)", self.name, self.endpoint, os.getpid())
        try:
            self._beat()
            while not self._stopping.is_set():
                self._tick_links(self._poller, polled)
                timeout_ms = self._poll_timeout_ms()
                if self.stamp is not None:
                    self.stamp.idle()  # waiting for input: live while the process runs
                ready = dict(self._poller.poll(timeout_ms))
                self._beat()
                self._wake(ready, polled)
        finally:
            self._teardown()

    def _beat(self) -> None:
        """Stamp the turn (common.base_agent.stamp); a stuck launcher vouches for nobody."""
        if self.stamp is not None and not self.stamp.beat():
            self._unvouch()  # its launcher is gone or stuck: beat on our own

    def _unvouch(self) -> None:
        for link in self.links:
            unvouch = getattr(link, "unvouch", None)
            if unvouch is not None:
                unvouch()

    def _poll_timeout_ms(self) -> int:
        """Sleep until the next thing is due: a tick, or a link's beat; input wakes us."""
        if self._backlog:
            return 0
        wait = self.tick_interval_s if self._ticks else IDLE_POLL_S
        for link in self.links:
            wait = min(wait, link.due_in_s())
        if self.zap is not None:
            wait = min(wait, self.zap.due_in_s())
        return max(1, int(wait * 1000))

    def _tick_links(self, poller: zmq.Poller, polled: list[zmq.Socket | None]) -> None:
        """Let each link act, and poll the socket it has now (a reconnect replaces it)."""
        for i, link in enumerate(self.links):
            link.tick()
            fresh = link.socket
            if fresh is not polled[i]:
                old = polled[i]
                if old is not None:  # closed or not: a closed socket polls as fd 0, always
                    poller.unregister(old)  # "readable", and the loop would spin
                poller.register(fresh, zmq.POLLIN)
                polled[i] = fresh

    def _wake(self, ready: dict, polled: list[zmq.Socket | None]) -> None:
        if self._router in ready or self._backlog:
            self._drain()
        if self.zap is not None and self._router is not None:  # the host's key rotating:
            rebind_rotated(self._router.context,  # no handler is running now
                           {self._router: self._backlog})
        if self.zap is not None:
            self.zap.cut_revoked()  # a revoked key's subscriptions to our PUB sockets
        for link, sock in zip(self.links, polled, strict=True):
            if sock in ready:
                link.on_readable()
        for pollee, on_readable in list(self._pollees.items()):
            if pollee in ready:
                on_readable()
        self.on_tick()

    def _drain(self) -> None:
        assert self._router is not None
        self._backlog.serve(self._router, self._respond, DRAIN_MAX, DRAIN_BUDGET_S)

    def answer_parked(self, parked: Iterable[ParkedRequest],
                      error: MeshError | None = None) -> None:
        """From the loop thread: serve parked requests again (their handlers run in the next
        drain) or, given error, refuse them with it now (common.base_agent.parked)."""
        for request in parked:
            if error is None:
                self._backlog.keep(request.frames)
            elif self._router is not None:
                send_frames(self._router, self._respond.refuse(request, error), NOBLOCK)

    def pump(self) -> None:
        """Keep the agent live while a handler waits on another agent (a Client's
        ``on_wait``): see common.base_agent.backlog."""
        if self._router is not None and not self._stopped.is_set():  # not from teardown
            self._backlog.pump(self._router, self.links, self._respond)

    def _teardown(self, deregister: bool = True) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        try:
            for link in self.links:
                link.close(graceful=deregister)
            self.on_stop()
        finally:
            if self.zap is not None:  # first: its monitors stop while their sockets are open
                self.zap.close()
            if self._router is not None:
                self._router.close(linger=0)
                self._router = None
            self._waker.close()
            if self._own_ctx and self._ctx is not None:
                self._ctx.destroy(linger=0)
            log.info("%s stopped", self.name)
