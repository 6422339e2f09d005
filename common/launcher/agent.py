"""The launcher of one host: the only thing that starts or restarts that host's agents.

A BaseAgent whose ROUTER is the control socket (``tcp://HOST_ADDRESS:LAUNCHER_PORT``, reached
from either host; under ``security: curve`` only the operator's identity may connect)
answering ``status``, ``restart {name}``, ``reload`` (common.launcher.reconfigure), ``down``,
``logs`` (common.launcher.control), and the instance_* actions of blue/green migrations
(common.launcher.instances).
Its loop reads the fork server's exit events, health replies and the clock, and lets the
Supervisor decide.
SIGTERM/SIGINT and ``down`` stop every agent in reverse dependency order, then the launcher.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

import psutil

from common.base_agent import security
from common.base_agent.agent import BaseAgent
from common.base_agent.errors import MeshError
from common.base_agent.handlers import handler, require
from common.base_agent.protocol import ErrorCode
from common.config import AgentConfig
from common.launcher.allowlist_sync import AllowListControl, AllowListSync
from common.launcher.backups import BackupSchedule
from common.launcher.control import LogControl, pid_space
from common.launcher.events import EventSink
from common.launcher.external import ServiceWatch
from common.launcher.failover import FailoverControl, failover_for
from common.launcher.instances import InstanceControl
from common.launcher.liveness import LivenessBatch
from common.launcher.lock import HostLock
from common.launcher.plan import HostPlan
from common.launcher.port_audit import PortAudit
from common.launcher.presence import LegacyPresence
from common.launcher.probe import Prober
from common.launcher.readiness import verdict
from common.launcher.reconfigure import ReloadControl
from common.launcher.remote import RemoteLookup
from common.launcher.stamps import StampBoard
from common.launcher.state import AgentState
from common.launcher.supervisor import Supervisor
from common.spawn.forkserver import ForkServer
from common.spawn.spec import AgentSpec

__all__ = ["DEFAULT_PRELOAD", "Launcher"]

log = logging.getLogger(__name__)

# Imported once in the fork server, shared copy-on-write by every agent.
DEFAULT_PRELOAD = ("zmq", "msgpack", "prometheus_client", "common.base_agent",
                   "service_registry")
REMOTE = "remote:"
STEP_S = 0.02  # the supervisor's round while agents start: as often as starting ones are probed
QUIET_STEP_S = 0.2  # the supervisor's round once every agent is ready or stopped (an exit or
# a control request steps at once): probes, stamps and batches are due at 1 s or more


class Launcher(LogControl, InstanceControl, ReloadControl, AllowListControl, FailoverControl,
               BaseAgent):
    tick_interval_s = STEP_S  # the loop wakes this often while agents start (see on_tick)

    def __init__(self, plan: HostPlan, run_dir: str = "run",
                 preload: tuple[str, ...] = DEFAULT_PRELOAD,
                 config_path: str | None = None) -> None:
        preload = (*preload, "common.hub.link", *plan.preload)
        super().__init__(f"Launcher-{plan.host}", plan.launcher_endpoint(), host=plan.host)
        self.plan = plan
        self.config_path = config_path  # re-read by `mesh reload`
        self.lock = HostLock(run_dir, plan.host)
        self.run_dir = run_dir
        self.forks = ForkServer(preload, hide_env=plan.secret_variables())
        self.events: deque[dict[str, Any]] = deque(maxlen=200)
        self.supervisor = Supervisor(plan, self)
        self.failover = failover_for(plan, self.supervisor)  # common.launcher.failover
        self.backups = BackupSchedule(plan.config, plan.host, plan.base_dir, config_path,
                                      run_dir)  # backup: {every, keep, to}
        self.port_audit = PortAudit(plan.host, plan.addresses)
        self.external = ServiceWatch(plan.config, plan.host, plan.addresses,
                                     Path(plan.base_dir, plan.config.global_.log_dir, plan.host))
        self._remote_healthy: set[str] = set()
        self._next_step, self._step_now = 0.0, False  # the supervisor's round: every tick, or
        # at once when an agent became ready (its dependents start without waiting a tick)
        self.sink = EventSink(plan.host, plan.hub_endpoints, plan.manager_endpoint,
                              {name: plan.address(cfg) for name, cfg in plan.agents.items()})
        self.remote = RemoteLookup(plan.registry_endpoint,
                                   {d for a in plan.agents.values()
                                    for d in plan.remote_dependencies(a)}
                                   - {s.name for s in plan.config.services})
        store = security.keystore()  # curve: the signed allow-list, to and from each peer
        if store is not None:
            self.allowlist_sync = AllowListSync(store, plan.host, {
                h: plan.launcher_endpoint(h) for h in plan.config.hosts if h != plan.host})

    def setup(self) -> None:
        self.forks.start()  # before any zmq context or thread exists in this process
        try:
            self.lock.acquire()
            super().setup()
        except BaseException:
            self.forks.close()
            self.lock.release()
            raise

    def on_setup(self) -> None:
        if self.zap is not None:  # curve: the operator's tools, and peer launchers (the list)
            self.zap.restrict({security.OPERATOR,
                               *(f"launcher-{h}" for h in self.plan.config.hosts)})
        if self.allowlist_sync is not None:
            self.allowlist_sync.start()
        self.prober = Prober(self.ctx, self.watch_socket, self.unwatch_socket, self._on_health)
        self.presence = LegacyPresence(
            self.ctx, self.plan.registry_endpoint, self.plan.hub_endpoints,
            self.plan.config.global_.heartbeat_interval_s,
            lambda m: (self.plan.address(m.cfg), self.plan.endpoint(m.cfg)),
            self.watch_socket, self.unwatch_socket)
        self.stamps = StampBoard(self.run_dir, self.plan.host)  # common.launcher.stamps
        self.liveness = LivenessBatch(
            self.ctx, self.plan.host, self.plan.registry_endpoint, self.plan.hub_endpoints,
            self.plan.config.global_.heartbeat_interval_s, self.watch_socket,
            self.unwatch_socket, self._probe_now)
        self.watch_socket(self.forks.fileno(), self._on_fork_events)
        self.remote.start()
        if self.failover is not None:
            self.failover.start()
        self.backups.start()
        self.external.start()
        self.sink.start()
        log.info("launcher for %s: %d agents in %d waves", self.plan.host,
                 len(self.plan.agents), len(self.plan.waves))

    def on_tick(self) -> None:
        now = time.monotonic()
        self.stamps.beat(now)  # our agents read it: our vouches hold while it is fresh
        self._on_fork_events()
        if self.supervisor.stopping:
            if self.supervisor.stop_step(now):
                log.info("launcher for %s: every agent stopped", self.plan.host)
                self._stopping.set()
            self.presence.sync(self.supervisor.agents.values())
            self.presence.sync_services(self.external.status())
            return
        if now < self._next_step and not self._step_now:
            return  # woken by a probe's reply: the supervisor's round waits for its tick
        busy = self.supervisor.step(now)
        quiet = min(QUIET_STEP_S, self.plan.config.global_.heartbeat_interval_s / 5)
        self._next_step = now + (STEP_S if busy else quiet)
        self.tick_interval_s = STEP_S if busy else quiet  # a settled launcher wakes less: each
        # wake polls every probe socket (and stamps slot 0, well within half an interval)
        self._step_now = False
        if self.failover is not None:
            self.failover.tick(now)
        self.port_audit.audit(self.supervisor.agents.values(), now)
        self.liveness.tick(now, self._stamped(now))
        self.presence.sync(self.supervisor.agents.values())
        self.presence.sync_services(self.external.status())

    def request_stop(self) -> None:
        if not self.supervisor.stopping:
            log.info("launcher for %s: stopping in reverse dependency order", self.plan.host)
            self.supervisor.begin_stop(time.monotonic())
            if self.failover is not None:
                self.failover.leave()  # a planned stop: the other host adopts nothing

    def on_stop(self) -> None:
        if hasattr(self, "prober"):  # not when setup failed to bind (the port is taken)
            self.prober.close()
            self.presence.close()
            self.liveness.close()
            self.stamps.close()
        self.remote.stop()
        if self.failover is not None:
            self.failover.stop()
        self.backups.stop()
        if self.allowlist_sync is not None:
            self.allowlist_sync.stop()
        self.external.stop(self.plan.config.global_.stop_timeout_s)
        self.sink.stop()
        self.forks.close()
        self.lock.release()

    # -- ProcessControl, for the supervisor ----------------------------------------------------
    def spawn_many(self, agents: list[tuple[AgentConfig, str]]) -> list[int | Exception]:
        results = self.forks.spawn_many([self._spec(cfg, key) for cfg, key in agents])
        for (cfg, _), pid in zip(agents, results, strict=True):
            if not isinstance(pid, Exception):
                log.info("started %s (pid %d) on %s", cfg.name, pid, self.plan.endpoint(cfg))
        return results

    def _spec(self, cfg: AgentConfig, key: str) -> AgentSpec:
        spec = self.plan.spec(cfg)
        spec = dataclasses.replace(spec, env={**spec.env, **security.child_env(cfg.name)})  # CURVE
        if key != cfg.name:  # a second instance: its own log file
            spec = dataclasses.replace(spec, log_path=self.plan.log_path(key.replace("@", ".")))
        slot = None if cfg.script_path else self.stamps.assign(key)
        if slot is not None:  # its loop stamps its liveness (common.base_agent.stamp)
            spec = dataclasses.replace(spec, stamps=self.stamps.path, stamp_slot=slot)
        return spec

    @staticmethod
    def signal(pid: int, sig: int) -> None:
        try:
            os.killpg(pid, sig)  # the agent leads its own group: reach what it started too
        except ProcessLookupError:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    @staticmethod
    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def probe(self, cfg: AgentConfig, key: str) -> None:
        endpoint, legacy = self.plan.probe_endpoint(cfg)
        vouch = None if legacy else self.liveness.request(  # common.launcher.liveness
            key, 2 * self.supervisor.probe_interval_s(cfg))
        self.prober.probe(key, endpoint, legacy, vouch)

    def outstanding_s(self, key: str) -> float:
        return self.prober.outstanding_s(key)

    def _has_dependents(self, name: str) -> bool:
        return any(name in m.cfg.dependencies for m in self.supervisor.agents.values()
                   if m.state is AgentState.WAITING)

    def _stamped(self, now: float) -> dict[str, float] | None:
        """When a batch is due: the ready mesh agents whose loops wait for input or turned
        within the heartbeat interval (key -> age); the others are probed at once (a hang
        shows as a stale stamp first)."""
        if not self.liveness.due(now):
            return None
        interval = self.plan.config.global_.heartbeat_interval_s
        out = {}
        for key, m in self.supervisor.agents.items():
            if m.state is AgentState.READY and not m.cfg.script_path:
                age = self.stamps.age_s(key, now, m.pid)
                if age <= interval:
                    out[key] = age
                else:
                    self.supervisor.probe_now(key, now)
        return out

    def forget(self, key: str) -> None:
        self.prober.forget(key)
        self.liveness.forget(key)

    def _probe_now(self, key: str) -> None:
        self.supervisor.probe_now(key, time.monotonic())
        self._step_now = True  # the probe goes out in this turn's round

    def exited(self, key: str) -> None:
        self.prober.forget(key)
        self.liveness.exited(key)
        self._step_now = True  # this turn's round sends the registry batch that says so

    def remote_ready(self, name: str) -> bool:
        if name in self.external.services:  # services: checked by the ServiceWatch
            return self.external.ready(name)
        if name in self._remote_healthy:
            return True
        endpoint = self.remote.endpoints.get(name)
        if endpoint is None:
            return False
        if self.prober.outstanding_s(REMOTE + name) > self.supervisor.timeout_s:
            self.prober.forget(REMOTE + name)
            self.remote.forget(name)
        elif not self.prober.outstanding_s(REMOTE + name):
            self.prober.probe(REMOTE + name, endpoint)
        return False

    def notify(self, event: dict[str, Any]) -> None:
        event = {"host": self.plan.host, "ts": time.time(), **event}
        self.events.append(event)
        self.sink.put(event)

    # -- inputs ------------------------------------------------------------------------------
    def _on_health(self, key: str, report: dict[str, Any]) -> None:
        if key.startswith(REMOTE):
            self._remote_healthy.add(key[len(REMOTE):])
            self.prober.forget(key)
        elif key in self.supervisor.agents:
            cfg = self.supervisor.agents[key].cfg
            ready, why_not = verdict(cfg, report, self.plan.address(cfg))
            self.liveness.answered(key, report)
            m = self.supervisor.agents[key]
            starting = m.state is AgentState.STARTING
            self.supervisor.on_health(key, time.monotonic(), ready, why_not)
            if starting and m.state is AgentState.READY and self._has_dependents(m.cfg.name):
                self._step_now = True  # start its dependents without waiting for a tick

    def _on_fork_events(self) -> None:
        for event in self.forks.events():
            op = event.get("op")
            if op in ("stopped", "continued"):
                self.stamps.stopped(event["pid"], op == "stopped")
            elif op == "exited":
                self.stamps.stopped(event["pid"], False)
                self.supervisor.on_exit(event["pid"], event["code"], time.monotonic())
                self._step_now = True  # a restart due at once is not held for a tick

    # -- control -----------------------------------------------------------------------------
    @handler("status")
    def status(self, payload: Any = None) -> dict[str, Any]:
        """Request ``status``; reply ``{host, pid, stopping, agents: [...], events: [...]}``."""
        return {"host": self.plan.host, "pid": os.getpid(), "stopping": self.supervisor.stopping,
                "waves": self.plan.waves, "agents": self.supervisor.status(),
                "services": self.external.status(),
                "events": list(self.events)[-20:]}

    @handler("restart")
    def restart(self, payload: Any) -> dict[str, Any]:
        """Request ``restart {name}``; reply ``{restarting: name}``."""
        name = require(payload, "name", str)
        if name not in self.supervisor.agents:
            raise MeshError(f"no agent {name!r} on host {self.plan.host}", ErrorCode.NOT_FOUND)
        self.supervisor.restart(name, time.monotonic())
        self._step_now = True
        return {"restarting": name}

    @handler("down")
    def down(self, payload: Any = None) -> dict[str, Any]:
        """Request ``down``; reply ``{stopping: true, pid, pid_space}``; the launcher exits when
        done (a tool in the same pid_space may wait for the pid)."""
        self.request_stop()
        return {"stopping": True, "pid": os.getpid(), "pid_space": pid_space()}
