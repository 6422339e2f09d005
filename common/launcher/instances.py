"""Second instances of an agent under the launcher: what blue/green migrations ask for.

Control actions (on the launcher's control socket, beside ``status``/``restart``/``down``):

    instance_start   {name, instance, definition}  -> {key, started | already}
        start a supervised instance NAME@INSTANCE from ``definition`` (a whole agent entry of
        the startup config: other port, module, settings or env) beside the current one; it
        is started at once (the mesh is up; no dependency wait), probed and restarted like
        any agent, and logs to NAME.INSTANCE.log.  The same request again is a no-op.
    instance_stop    {name, instance}              -> {key, stopping | already}
        SIGTERM that instance (SIGKILL after stop_timeout_s) and forget it once it exited;
        ``instance: ""`` retires the primary NAME (an agent moving to the other host).
    instance_promote {name, instance}              -> {name, promoted | already}
        NAME@INSTANCE becomes NAME: later restarts use its definition; the old primary is
        stopped as NAME@retired.  Promoting what is already the primary is a no-op.
    instance_replace {name, definition}            -> {name, replacing | already}
        stop-and-replace: NAME's definition is swapped and the process restarted with it.
    instance_port    {start, taken}                -> {port}
        the first port from ``start`` up, not in ``taken``, that binds on this host's address
        now: where a new instance can listen (only this host can tell).

Promotion lives in the launcher's memory until the migration writes it into the config file
(every host's copy; common.launcher.reconfigure ``config_write``).
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING, Any

from common.base_agent.errors import BadRequest, MeshError
from common.base_agent.handlers import handler, require
from common.base_agent.protocol import ErrorCode
from common.config import AgentConfig
from common.launcher.managed import Managed, managed

if TYPE_CHECKING:
    from common.launcher.plan import HostPlan
    from common.launcher.supervisor import Supervisor

__all__ = ["RETIRED", "InstanceControl"]

log = logging.getLogger(__name__)

RETIRED = "retired"


class InstanceControl:
    """Mixin for the Launcher: the instance_* control actions."""

    supervisor: Supervisor
    plan: HostPlan

    @handler("instance_port")
    def instance_port(self, payload: Any) -> dict[str, int]:
        """Request ``instance_port {start, taken}``; reply ``{port}``."""
        start = require(payload, "start", int)
        taken = set(require(payload, "taken", list))
        address = self.plan.addresses[self.plan.host]
        for port in range(max(1, start), 65536):
            if port not in taken and _binds(address, port):
                return {"port": port}
        raise MeshError(f"no free port on {address} from {start}", ErrorCode.NOT_FOUND)

    def _definition(self, payload: Any, name: str) -> AgentConfig:
        raw = require(payload, "definition", dict)
        try:
            cfg = AgentConfig.model_validate(raw)
        except ValueError as exc:
            raise BadRequest(f"payload.definition is not a valid agent entry: {exc}") from None
        if cfg.name != name or cfg.host != self.plan.host:
            raise BadRequest(f"payload.definition names {cfg.name} on {cfg.host}; "
                             f"this launcher runs {self.plan.host}")
        return cfg

    @handler("instance_start")
    def instance_start(self, payload: Any) -> dict[str, Any]:
        name = require(payload, "name", str)
        instance = require(payload, "instance", str)
        if not instance or "@" in instance:
            raise BadRequest("payload.instance must be a non-empty label without '@'")
        cfg = self._definition(payload, name)
        m = managed(cfg, instance)
        known = self.supervisor.agents.get(m.key)
        if known is not None and known.key not in self.supervisor.discarded:
            if known.cfg != cfg:
                raise MeshError(f"{m.key} runs another definition", ErrorCode.CONFLICT)
            return {"key": m.key, "already": True}
        self.supervisor.discarded.pop(m.key, None)
        self.supervisor.agents[m.key] = m
        self.supervisor.start(m, time.monotonic())
        return {"key": m.key, "started": True, "pid": m.pid}

    @handler("instance_stop")
    def instance_stop(self, payload: Any) -> dict[str, Any]:
        name = require(payload, "name", str)
        instance = require(payload, "instance", str)
        key = f"{name}@{instance}" if instance else name
        m = self.supervisor.agents.get(key)
        if m is None:
            return {"key": key, "already": True}
        if key not in self.supervisor.discarded:
            self.supervisor.discarded[key] = (time.monotonic()
                                              + self.plan.config.global_.stop_timeout_s)
            self.supervisor.stop_one(m)
        return {"key": key, "stopping": True}

    @handler("instance_promote")
    def instance_promote(self, payload: Any) -> dict[str, Any]:
        name = require(payload, "name", str)
        instance = require(payload, "instance", str)
        sup, key = self.supervisor, f"{name}@{instance}"
        current = sup.agents.get(name)
        if current is not None and current.instance == instance and key not in sup.agents:
            return {"name": name, "already": True}
        new = sup.agents.get(key)
        if new is None or key in sup.discarded:
            raise MeshError(f"no running instance {key} to promote", ErrorCode.NOT_FOUND)
        if current is not None:
            self._retire(current)
        del sup.agents[key]
        for k in (key, name):
            sup.control.forget(k)
        new.key = name
        sup.agents[name] = new
        self.plan.agents[name] = new.cfg
        log.info("promoted %s: %s now runs %s on port %d", key, name, new.cfg.module,
                 new.cfg.port)
        return {"name": name, "promoted": True}

    def _retire(self, old: Managed) -> None:
        sup = self.supervisor
        old_key = f"{old.cfg.name}@{RETIRED}"
        sup.control.forget(old.key)
        old.key, old.instance = old_key, RETIRED
        sup.agents[old_key] = old
        sup.discarded[old_key] = time.monotonic() + self.plan.config.global_.stop_timeout_s
        sup.stop_one(old)

    @handler("instance_replace")
    def instance_replace(self, payload: Any) -> dict[str, Any]:
        name = require(payload, "name", str)
        cfg = self._definition(payload, name)
        m = self.supervisor.agents.get(name)
        if m is None:
            raise MeshError(f"no agent {name!r} on host {self.plan.host}", ErrorCode.NOT_FOUND)
        if m.cfg == cfg:
            return {"name": name, "already": True}
        m.cfg = cfg
        self.plan.agents[name] = cfg
        self.supervisor.restart(name, time.monotonic())
        return {"name": name, "replacing": True}


def _binds(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True
