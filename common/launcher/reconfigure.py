"""`mesh reload` on the launcher: re-read this host's config file and apply the difference.

The launcher reads its own copy of the config (each machine has its own), so a reload asked
from the other host applies what this host's file says.  A file with errors, or a required
secret that cannot be read, changes nothing; neither does a reload while a migration's second
instance runs here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from common.base_agent.errors import MeshError
from common.base_agent.handlers import handler
from common.base_agent.protocol import ErrorCode
from common.config import ConfigError, load_config
from common.launcher.events import EventSink
from common.launcher.plan import HostPlan
from common.launcher.reload import ReloadPlan, reload_plan
from common.launcher.remote import RemoteLookup
from common.launcher.supervisor import Supervisor

__all__ = ["ReloadControl"]

log = logging.getLogger(__name__)


class ReloadControl:
    """The ``reload`` control action; mixed into the Launcher."""

    plan: HostPlan
    supervisor: Supervisor
    config_path: str | None
    remote: RemoteLookup
    sink: EventSink

    @handler("reload")
    def reload(self, payload: Any = None) -> dict[str, Any]:
        """Request ``reload {dry_run?}``; reply ``{host, stop, restart, start, lines,
        applied}``."""
        dry_run = bool(payload.get("dry_run")) if isinstance(payload, dict) else False
        new = self._read_plan()
        changes = reload_plan(self.plan, new)
        applied = not dry_run and not changes.empty
        if applied:
            if self.supervisor.migrating:
                raise MeshError(f"a migration's instance runs on {self.plan.host}; reload "
                                "after it ends (nothing changed)", ErrorCode.CONFLICT)
            self._apply(new, changes)
        return {**changes.to_data(), "lines": changes.lines(), "applied": applied}

    def _read_plan(self) -> HostPlan:
        if self.config_path is None:
            raise MeshError("this launcher was not started from a config file",
                            ErrorCode.BAD_REQUEST)
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            issues = "\n".join(str(issue) for issue in exc.errors)
            raise MeshError(f"{self.config_path} has {len(exc.errors)} error(s); nothing "
                            f"changed:\n{issues}", ErrorCode.BAD_REQUEST) from None
        except OSError as exc:
            raise MeshError(f"cannot read {self.config_path}: {exc.strerror}",
                            ErrorCode.BAD_REQUEST) from None
        if self.plan.host not in config.hosts:
            raise MeshError(f"{self.config_path} no longer has host {self.plan.host!r}; "
                            "nothing changed", ErrorCode.BAD_REQUEST)
        plan = HostPlan(config, self.plan.host, self.plan.overrides, self.plan.base_dir)
        missing = plan.missing_secrets()
        if missing:
            raise MeshError("required secrets cannot be read; nothing changed:\n"
                            + "\n".join(missing), ErrorCode.BAD_REQUEST)
        return plan

    def _apply(self, plan: HostPlan, changes: ReloadPlan) -> None:
        log.info("reload of %s: %s", plan.host, "; ".join(changes.lines()))
        self.plan = plan
        self.supervisor.reload(plan, changes, time.monotonic())
        self.remote.names = {d for a in plan.agents.values() for d in plan.remote_dependencies(a)}
        self.sink.addresses = {name: plan.address(cfg) for name, cfg in plan.agents.items()}
