"""Agent definitions before and after a change: what the launcher is asked to run.

A definition is a whole agent entry of the startup config (an `AgentConfig`).  The *effective*
definition of an agent is the config's, or the one the latest finished migration promoted
when that promotion is not in the config file (migration.writeback writes it there).
"""

from __future__ import annotations

from typing import Any

from common.config import AgentConfig, MeshConfig
from migration.change import AgentChange

__all__ = ["apply_change", "endpoint", "used_ports"]


def apply_change(old: AgentConfig, change: AgentChange, port: int) -> AgentConfig:
    """The definition after the change (settings and env merged over the old ones)."""
    data: dict[str, Any] = old.model_dump(mode="python", by_alias=True)
    if change.module is not None:
        data["module"], data["script_path"], data["health_port"] = change.module, None, None
        if old.script_path is not None:
            _drop_script_world(data)
    if change.settings is not None:
        data["settings"] = {**old.settings, **change.settings}
    env = {**data["env"], **(change.env or {})}
    if change.version is not None:
        env["MESH_AGENT_VERSION"] = change.version
    data["env"] = env
    if change.host is not None:
        data["host"] = change.host
    data["port"] = port
    return AgentConfig.model_validate(data)


def _drop_script_world(data: dict[str, Any]) -> None:
    """A script's entry becoming a module's: its interpreter, cwd and argv go, so does the
    legacy BaseAgent's hidden HTTP port, and env values naming a port it no longer has (the
    module answers health on its main port)."""
    data.update(python=None, cwd=None, args=[])
    data["ports"] = {k: v for k, v in data["ports"].items() if k != "legacy_http"}
    gone = ("${HEALTH_PORT}", "${ports.legacy_http}")
    data["env"] = {k: v for k, v in data["env"].items() if not any(g in v for g in gone)}
    if data.get("health"):
        ports = [p for p in data["health"]["ports"] if p not in ("health_port", "legacy_http")]
        data["health"] = {**data["health"], "ports": ports}


def endpoint(config: MeshConfig, agent: AgentConfig) -> str:
    return f"tcp://{config.hosts[agent.host].address}:{agent.port}"


def used_ports(config: MeshConfig, definitions: dict[str, AgentConfig]) -> set[int]:
    ports = {p for a in config.agents for _, p in a.declared_ports()}
    ports |= {p for a in definitions.values() for _, p in a.declared_ports()}
    ports |= {p for h in config.hosts.values() for p in h.reserved_ports.values()}
    return ports
