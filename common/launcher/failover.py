"""Host failover, the launcher's part: fence at home, adopt guests, give them back.

For each agent with ``failover: {host: H}`` (common.config.failover) two launchers act:

* at home (the agent's own host): the agent runs only while H's launcher answers.  Silent
  for ``fence_after_s`` -> the agent is SIGKILLed and held (fenced); held agents start again
  once H's launcher answers and does not run them as guests.  At start every such agent is
  held until that first answer (a home host back from the dead must not run it twice).
* on H: the agent's home host is gone once its launcher has been silent ``confirm_after_s``
  and none of its instances is live in the registry for as long; then H starts it as a guest
  (``NAME@failover``, bound to H's address, its state from the last shipped copy).  With
  ``back: auto`` the guest is stopped once the home launcher has answered ``return_after_s``,
  its final state shipped home, and only then is it off H's list (``failover_status``).

``confirm_after_s`` > ``fence_after_s`` + two probes, so in a partition the home host has
stopped the agent before H starts it: never on both sides.

    failover_status {}  -> {host, guests: {name: running|returning}, held: [name],
                            shipped: {name: taken_at}, received: {name: taken_at}}
    failover_back {name} -> {name, returning | already}   (``back: manual`` guests)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.base_agent.errors import MeshError
from common.base_agent.handlers import handler, require
from common.base_agent.protocol import ErrorCode
from common.config import AgentConfig
from common.launcher.host_watch import ACTION_STATUS, HostWatch
from common.launcher.managed import managed
from common.launcher.shipping import ACTION_SHIP, Receiver, Shipper, state_file

if TYPE_CHECKING:
    from common.launcher.plan import HostPlan
    from common.launcher.supervisor import Supervisor

__all__ = ["GUEST", "Failover", "FailoverControl", "failover_for"]

log = logging.getLogger(__name__)

GUEST = "failover"  # the instance label of an agent run for a host that is gone
RUNNING, RETURNING = "running", "returning"


def failover_for(plan: HostPlan, supervisor: Supervisor) -> Failover | None:
    """The launcher's failover duties; None where no agent fails over to or from its host."""
    failover = Failover(plan, supervisor)
    return failover if failover.home or failover.guest_cfgs else None


class Failover:
    def __init__(self, plan: HostPlan, supervisor: Supervisor) -> None:
        self.plan, self.supervisor = plan, supervisor
        self.timings = plan.config.failover
        me = plan.host
        self.home = {a.name: a for a in plan.agents.values() if a.failover is not None}
        self.guest_cfgs = {a.name: a for a in plan.config.agents
                           if a.failover is not None and a.failover.host == me and a.host != me}
        self.held: set[str] = set()
        self.guests: dict[str, str] = {}  # name -> RUNNING | RETURNING
        self._returning_since: dict[str, float] = {}
        others = {a.failover.host for a in self.home.values() if a.failover} \
            | {a.host for a in self.guest_cfgs.values()}
        self.watch = HostWatch({h: plan.launcher_endpoint(h) for h in others},
                               plan.addresses, plan.registry_endpoint,
                               self.timings.probe_interval_s, me)
        self.shipper = Shipper(self._due, self.timings.ship_every_s, f"launcher-{me}")
        self.receiver = Receiver()

    def start(self) -> None:
        """Hold every home agent that may fail over until its failover host has answered."""
        for name in self.home:
            self.supervisor.agents.pop(name, None)
            self.held.add(name)
        self.watch.start()
        self.shipper.start()

    def leave(self) -> None:
        """A planned stop (``mesh down``): tell the other launchers not to adopt our agents."""
        self.watch.announce_leaving()

    def stop(self) -> None:
        self.watch.stop()
        self.shipper.stop()

    def tick(self, now: float) -> None:
        for name, cfg in self.home.items():
            self._tick_home(name, cfg, now)
        for name, cfg in self.guest_cfgs.items():
            self._tick_guest(name, cfg, now)

    # -- at home -------------------------------------------------------------------------
    def _tick_home(self, name: str, cfg: AgentConfig, now: float) -> None:
        target = cfg.failover.host  # type: ignore[union-attr]
        silent = self.watch.silence_s(target)
        if name not in self.held:
            if silent >= self.timings.fence_after_s and target not in self.watch.leaving:
                self._fence(name, silent, now)
        elif self.watch.back_for_s(target) > 0 and name not in self.watch.guests(target) \
                and silent < self.timings.fence_after_s and name not in self.supervisor.agents:
            log.warning("%s: %s does not run it; starting it here", name, target)
            self.held.discard(name)
            self.plan.agents[name] = cfg
            self.supervisor.agents[name] = managed(cfg)

    def _fence(self, name: str, silent: float, now: float) -> None:
        log.warning("%s: failover host silent %.1f s; fencing (SIGKILL, held)", name, silent)
        self.held.add(name)
        m = self.supervisor.agents.get(name)
        if m is not None:
            self.supervisor.discarded[name] = now  # SIGKILL at the next reap
            self.supervisor.stop_one(m)

    # -- on the failover host --------------------------------------------------------------
    def _tick_guest(self, name: str, cfg: AgentConfig, now: float) -> None:
        home, key = cfg.host, f"{name}@{GUEST}"
        state = self.guests.get(name)
        if state is None:
            if (home not in self.watch.leaving
                    and self.watch.silence_s(home) >= self.timings.confirm_after_s
                    and self.watch.registry_silence_s(home) >= self.timings.confirm_after_s):
                self._adopt(name, cfg, key, now)
        elif state == RUNNING:
            auto = cfg.failover is not None and cfg.failover.back == "auto"
            if auto and self.watch.back_for_s(home) >= self.timings.return_after_s:
                self.give_back(name, now)
        elif key not in self.supervisor.agents and self._final_copy_home(name, cfg):
            log.warning("%s: given back to %s", name, home)
            del self.guests[name]

    def _adopt(self, name: str, cfg: AgentConfig, key: str, now: float) -> None:
        log.warning("%s: host %s gone (launcher and agents silent %.1f s); starting it here",
                    name, cfg.host, self.watch.silence_s(cfg.host))
        here = cfg.model_copy(update={"host": self.plan.host})
        m = managed(here, GUEST)
        self.supervisor.agents[key] = m
        self.supervisor.discarded.pop(key, None)
        self.supervisor.start(m, now)
        self.guests[name] = RUNNING

    def give_back(self, name: str, now: float) -> None:
        key = f"{name}@{GUEST}"
        m = self.supervisor.agents.get(key)
        log.warning("%s: home host %s is back; stopping the guest", name,
                    self.guest_cfgs[name].host)
        self.guests[name] = RETURNING
        self._returning_since[name] = time.time()
        if m is not None:
            self.supervisor.discarded[key] = now + self.plan.config.global_.stop_timeout_s
            self.supervisor.stop_one(m)

    def _final_copy_home(self, name: str, cfg: AgentConfig) -> bool:
        if cfg.failover is None or cfg.failover.state != "stateful":
            return True
        since = self._returning_since.get(name, 0.0)
        if not self.shipper.delivered_since(name, since):
            self.shipper.ship_now(name)
            return False
        return True

    # -- shipping ------------------------------------------------------------------------
    def _due(self) -> list[tuple[str, str, Path]]:
        """(name, other launcher, state file) of each stateful agent whose copy this host
        sends: a home agent running here, a guest running or just stopped here."""
        due = []
        for name, cfg in self.home.items():
            if name not in self.held and _stateful(cfg):
                due.append((name, self.plan.launcher_endpoint(cfg.failover.host),  # type: ignore[union-attr]
                            self.path(cfg)))
        for name in list(self.guests):
            cfg = self.guest_cfgs[name]
            if _stateful(cfg):
                here = cfg.model_copy(update={"host": self.plan.host})
                due.append((name, self.plan.launcher_endpoint(cfg.host), self.path(here)))
        return due

    def path(self, cfg: AgentConfig) -> Path:
        return state_file(self.plan.config, cfg, self.plan.base_dir)

    def runs(self, name: str) -> bool:
        return name in self.guests or (name in self.home and name not in self.held)

    def status(self) -> dict[str, Any]:
        return {"host": self.plan.host, "guests": dict(self.guests), "held": sorted(self.held),
                "shipped": dict(self.shipper.shipped), "received": dict(self.receiver.received)}


def _stateful(cfg: AgentConfig) -> bool:
    return cfg.failover is not None and cfg.failover.state == "stateful"


class FailoverControl:
    """Mixin for the Launcher: the failover actions."""

    failover: Failover | None
    plan: HostPlan

    @handler(ACTION_STATUS)
    def failover_status(self, payload: Any = None) -> dict[str, Any]:
        """``failover_status {host?}``: a launcher's probe (its host is heard) or a tool's."""
        asking = require(payload, "host", str, "") if payload else ""
        if self.failover is not None and asking:
            self.failover.watch.heard(asking, leaving=require(payload, "leaving", bool, False))
        if self.failover is None:
            return {"host": self.plan.host, "guests": {}, "held": [], "shipped": {},
                    "received": {}}
        return self.failover.status()

    @handler(ACTION_SHIP)
    def failover_ship(self, payload: Any) -> dict[str, Any]:
        name = require(payload, "name", str)
        for key, kind in (("transfer", str), ("offset", int), ("total", int), ("sha256", str),
                          ("data", bytes)):
            require(payload, key, kind)
        require(payload, "taken_at", float)
        if self.failover is None or name not in {**self.failover.home,
                                                 **self.failover.guest_cfgs}:
            raise MeshError(f"{name} does not fail over to or from {self.plan.host}",
                            ErrorCode.NOT_FOUND)
        if self.failover.runs(name):
            raise MeshError(f"{name} runs on {self.plan.host}: its state is not replaced",
                            ErrorCode.CONFLICT)
        cfg = self.plan.config.agent(name).model_copy(update={"host": self.plan.host})
        return self.failover.receiver.chunk(self.failover.path(cfg), payload)

    @handler("failover_back")
    def failover_back(self, payload: Any) -> dict[str, Any]:
        name = require(payload, "name", str)
        if self.failover is None or name not in self.failover.guests:
            raise MeshError(f"{name} is not a guest on {self.plan.host}", ErrorCode.NOT_FOUND)
        if self.failover.guests[name] != RUNNING:
            return {"name": name, "already": True}
        self.failover.give_back(name, time.monotonic())
        return {"name": name, "returning": True}
