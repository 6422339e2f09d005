"""This host's copy of the config, on the launcher: `mesh reload` and promotions written to it.

The launcher reads its own copy of the config (each machine has its own), so a reload asked
from the other host applies what this host's file says.  A file with errors, or a required
secret that cannot be read, changes nothing; neither does a reload while a migration's second
instance runs here.

``config_write {text, sha256_before, sha256_after, tag}`` is how a migration run on another
host writes what it promoted (or rolled back) into this host's copy too, so that this host's
next ``mesh up`` runs it: written only over the very file the migration changed
(``sha256_before``), the old bytes kept beside it (``FILE.TAG.bak``); a copy that already has
the new bytes is left alone, a copy that differs is refused and said so.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import yaml

from common.base_agent.errors import BadRequest, MeshError
from common.base_agent.handlers import handler, require
from common.base_agent.protocol import ErrorCode
from common.config import ConfigError, load_config, parse_config
from common.config.files import sha256_of, write_atomic
from common.launcher.events import EventSink
from common.launcher.plan import HostPlan
from common.launcher.reload import ReloadPlan, reload_plan
from common.launcher.remote import RemoteLookup
from common.launcher.supervisor import Supervisor

__all__ = ["ReloadControl"]

log = logging.getLogger(__name__)

_TAG = re.compile(r"[A-Za-z0-9_.-]{1,64}")


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

    @handler("config_write")
    def config_write(self, payload: Any) -> dict[str, Any]:
        """Request ``config_write {text, sha256_before, sha256_after, tag}``; reply ``{host,
        path, result: in_sync | written | differs, backup?}``."""
        text, tag = require(payload, "text", str), require(payload, "tag", str)
        before = require(payload, "sha256_before", str)
        after = require(payload, "sha256_after", str)
        if sha256_of(text.encode()) != after or not _TAG.fullmatch(tag):
            raise BadRequest("payload.text does not hash to sha256_after, or payload.tag is "
                             "not [A-Za-z0-9_.-]{1,64}")
        path = self._own_file()
        try:
            current = Path(path).read_bytes()
        except OSError as exc:
            raise MeshError(f"cannot read {path}: {exc.strerror}") from None
        reply: dict[str, Any] = {"host": self.plan.host, "path": path}
        found = sha256_of(current)
        if found == after:
            return {**reply, "result": "in_sync"}
        if found != before:
            return {**reply, "result": "differs", "sha256": found}
        try:
            parse_config(yaml.safe_load(text))
        except (ConfigError, yaml.YAMLError) as exc:
            raise MeshError(f"the new text is not a valid config ({exc}); nothing written",
                            ErrorCode.BAD_REQUEST) from None
        backup = f"{path}.{tag}.bak"
        write_atomic(backup, current)
        write_atomic(path, text.encode())
        log.info("%s: written by a migration (previous file kept as %s)", path, backup)
        return {**reply, "result": "written", "backup": backup}

    def _own_file(self) -> str:
        if self.config_path is None:
            raise MeshError("this launcher was not started from a config file",
                            ErrorCode.BAD_REQUEST)
        return self.config_path

    def _read_plan(self) -> HostPlan:
        path = self._own_file()
        try:
            config = load_config(path)
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
        plan = HostPlan(config, self.plan.host, self.plan.overrides, self.plan.base_dir,
                        self.plan.log_level)
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
