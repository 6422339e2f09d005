"""The launcher speaks for its legacy scripts, which neither register nor send heartbeats.

For each running ``script_path`` agent it keeps a stand-in: while the agent's probes pass
(READY, healthy reply) a registry record for it (``metadata.protocol: legacy``, its main
port, its pid), kept alive by the launcher's heartbeats and withdrawn as soon as they fail;
and, while its process runs, a report to the hubs every heartbeat interval built from the
probes (passing when ready, warning with the reply's text while not).  Both are the agents'
own links (`RegistryLink`, `HubLink`) over a stand-in for the agent: one protocol, one
heartbeat.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import zmq

from common.base_agent import protocol
from common.base_agent.health import CheckResult, Status
from common.base_agent.heartbeat import Heartbeat
from common.base_agent.registration import RegistryLink
from common.hub.link import HubLink
from common.launcher.managed import Managed
from common.launcher.state import AgentState

__all__ = ["LegacyPresence", "StandIn"]

log = logging.getLogger(__name__)

Watch = Callable[[zmq.Socket, Callable[[], None]], None]
CHECK = "legacy_probe"
SERVICE = "service:"  # the key of a service's run


class _NoMetrics:
    """A script's requests are not seen by the launcher: no per-action figures."""

    @staticmethod
    def collect() -> Iterator[Any]:
        return iter(())


class StandIn:
    """What the links read of an agent, for one run (pid) of a legacy script."""

    zap = None
    metrics = _NoMetrics()

    def __init__(self, name: str, place: tuple[str, str], pid: int, interval_s: float) -> None:
        self.name, (self.host, self.endpoint) = name, place  # address, endpoint
        self.pid, self.heartbeat_interval_s = pid, interval_s
        self.instance_id = uuid.uuid4().hex
        self.result = CheckResult(CHECK, Status.WARNING, "starting")

    def observe(self, m: Managed) -> bool:
        """Take the supervisor's view of the script; True while its probes pass."""
        passing = m.state is AgentState.READY and not m.health_text
        detail = "health_check answered healthy" if passing else \
            m.health_text or f"{m.state.value}: no healthy reply yet"
        status = Status.PASSING if passing and not m.port_issues else Status.WARNING
        self.result = CheckResult(CHECK, status, "; ".join([detail, *m.port_issues]))
        return passing

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "instance_id": self.instance_id, "host": self.host,
                "endpoint": self.endpoint, "pid": self.pid,
                "metadata": {protocol.METADATA_PROTOCOL: protocol.PROTOCOL_LEGACY},
                "heartbeat_interval_s": self.heartbeat_interval_s}

    def health(self) -> dict[str, Any]:
        return {"status": self.result.status.value, "pid": self.pid,
                "checks": [self.result.as_dict()],
                "metrics": {"requests_total": 0, "errors_total": 0, "bad_frames_total": 0}}


class _Run:
    """The links of one run of one script, and the sockets the launcher polls for them."""

    def __init__(self, stand_in: StandIn, hub: HubLink | None) -> None:
        self.stand_in, self.hub = stand_in, hub
        self.registry: RegistryLink | None = None
        self.watched: dict[str, zmq.Socket] = {}

    def links(self) -> Iterable[tuple[str, Any]]:
        return [(n, link) for n, link in (("hub", self.hub), ("registry", self.registry))
                if link is not None]


class LegacyPresence:
    """Registry records and hub reports for a launcher's legacy scripts (see module doc)."""

    def __init__(self, ctx: zmq.Context, registry: str | None, hubs: list[str],
                 interval_s: float, place: Callable[[Managed], tuple[str, str]], watch: Watch,
                 unwatch: Callable[[zmq.Socket], None]) -> None:
        self._ctx, self._registry, self._hubs = ctx, registry, hubs
        self._interval_s, self._place = interval_s, place
        self._watch, self._unwatch = watch, unwatch
        self._runs: dict[str, _Run] = {}

    def sync(self, agents: Iterable[Managed]) -> None:
        """Called every launcher tick with the supervisor's agents."""
        seen = set()
        for m in agents:
            if not m.cfg.script_path:
                continue
            seen.add(m.key)
            run = self._runs.get(m.key)
            running = m.state in (AgentState.STARTING, AgentState.READY) and m.pid
            if run is not None and (not running or run.stand_in.pid != m.pid):
                self._end(m.key)
                run = None
            if running:
                self._step(run or self._begin(m), m)
        for key in {k for k in self._runs if not k.startswith(SERVICE)} - seen:
            self._end(key)

    def sync_services(self, statuses: Iterable[dict[str, Any]]) -> None:
        """Hub reports for the services: (common.launcher.external), critical while their
        check fails; each as an entry of its own, like an agent."""
        for status in statuses:
            key = SERVICE + status["name"]
            run = self._runs.get(key)
            if run is None:
                place = (status["address"], f"tcp://{status['address']}:{status['port']}")
                stand_in = StandIn(status["name"], place, status["pid"] or 0, self._interval_s)
                hub = HubLink(self._ctx, stand_in, self._hubs) if self._hubs else None  # type: ignore[arg-type]
                run = self._runs[key] = _Run(stand_in, hub)
            run.stand_in.pid = status["pid"] or 0
            run.stand_in.result = CheckResult(
                f"{status['check']}_check", Status.PASSING if status["passing"]
                else Status.CRITICAL, status["detail"])
            for name, link in run.links():
                link.tick()
                self._rewatch(run, name, link)

    def _begin(self, m: Managed) -> _Run:
        stand_in = StandIn(m.cfg.name, self._place(m), m.pid, self._interval_s)
        hub = HubLink(self._ctx, stand_in, self._hubs) if self._hubs else None  # type: ignore[arg-type]
        run = self._runs[m.key] = _Run(stand_in, hub)
        return run

    def _step(self, run: _Run, m: Managed) -> None:
        passing = run.stand_in.observe(m)
        if passing and run.registry is None and self._registry:
            run.registry = RegistryLink(self._ctx, self._registry, run.stand_in.record(),
                                        Heartbeat(self._interval_s))
        elif not passing and run.registry is not None:
            self._withdraw(run)
        for name, link in run.links():
            link.tick()
            self._rewatch(run, name, link)

    def _rewatch(self, run: _Run, name: str, link: Any) -> None:
        sock = link.socket
        if run.watched.get(name) is not sock:
            if name in run.watched:
                self._unwatch(run.watched[name])
            self._watch(sock, link.on_readable)
            run.watched[name] = sock

    def _withdraw(self, run: _Run) -> None:
        if run.registry is None:
            return
        log.info("%s: probes failing, withdrawn from the registry", run.stand_in.name)
        if "registry" in run.watched:
            self._unwatch(run.watched.pop("registry"))
        run.registry.deregister()
        run.registry.close()
        run.registry = None

    def _end(self, key: str) -> None:
        run = self._runs.pop(key)
        self._withdraw(run)
        for sock in run.watched.values():
            self._unwatch(sock)
        if run.hub is not None:
            run.hub.close()

    def close(self) -> None:
        for key in list(self._runs):
            self._end(key)
