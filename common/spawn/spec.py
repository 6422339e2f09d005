"""AgentSpec: what the launcher hands the fork server for one agent process.

Built by the host plan (``HostPlan.spec``), it crosses the fork server's socketpair as plain
JSON data (``to_wire`` / ``from_wire``), never argv: ``env`` carries the agent's resolved
secrets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AgentSpec"]


@dataclass(frozen=True)
class AgentSpec:
    name: str
    endpoint: str  # tcp://ADDR:PORT, its ROUTER
    log_path: str
    module: str | None = None  # package.module:Class, or
    script_path: str | None = None  # a legacy script, run as its own interpreter
    python: str = ""  # the script's interpreter; "" for the mesh's own
    args: tuple[str, ...] = ()  # the script's argv after its path, expanded
    registry: str | None = None  # the registry's endpoint; None for the registry itself
    host: str = ""  # the address the agent binds and registers
    settings: Mapping[str, Any] = field(default_factory=dict)  # validated by the class
    ports: Mapping[str, int] = field(default_factory=dict)  # declared extra ports, by name
    heartbeat_interval_s: float = 1.0
    env: Mapping[str, str] = field(default_factory=dict)  # secrets resolved by the launcher
    log_level: str = "INFO"  # `mesh up --log-level`
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 5
    cwd: str = ""
    hub_endpoints: tuple[str, ...] = ()  # heartbeats go there: own host's hub first
    secrets: Mapping[str, bool] = field(default_factory=dict)  # name -> optional (no values)
    stamps: str = ""  # the launcher's liveness stamp file and this agent's slot in it
    stamp_slot: int = -1  # (common.base_agent.stamp); "" / -1: none

    def to_wire(self) -> dict[str, Any]:
        """Plain data for the socketpair (JSON)."""
        data = dataclasses.asdict(self)
        data["hub_endpoints"] = list(self.hub_endpoints)
        data["args"] = list(self.args)
        return data

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> AgentSpec:
        """The spec ``to_wire`` gave; TypeError on a key it does not know."""
        return cls(**{**data, "hub_endpoints": tuple(data.get("hub_endpoints", ())),
                      "args": tuple(data.get("args", ()))})
