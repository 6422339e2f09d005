"""Read the original system's two startup files, each in its own schema, as written.

MainPC (``main_pc_code/config/startup_config.yaml``) nests agents by group and name::

    agent_groups: {group: {AgentName: {script_path, port, health_check_port, required,
                                       dependencies, config}}}

PC2 (``pc2_code/config/startup_config.yaml``) is a flat list, plus ``error_bus_port``::

    pc2_services: [{name, script_path, host, port, health_check_port, required, dependencies,
                    config}]

Both carry ``global_settings: {environment, resource_limits, health_checks}``; PC2 had those
blocks at the top level before 2025-07-24 and still keeps ``health_checks.start_period_seconds``
there, so both places are read, key by key, ``global_settings`` winning. Each file becomes one
host of the version-1 schema:

- ``health_check_port`` -> ``health_port``; ``config`` -> ``settings``; ``env_vars`` -> ``env``;
  ``params`` -> ``settings.params``; agents run from ``script_path``.
- The legacy BaseAgent bound a third, undeclared port: an HTTP health server on
  ``health_check_port + 1``. The conversion declares it as ``ports.legacy_http`` so that it is
  checked like every other port (most of the original's port collisions were there).
- ``error_bus_port`` becomes ``hosts.pc2.reserved_ports.error_bus_port``.
- ``environment`` becomes the host's ``env`` (scalars as strings); ``resource_limits`` becomes
  each agent's ``resources``; ``health_checks`` becomes ``global.health``.
- A PC2 service's ``host`` (its bind address, always 0.0.0.0) is dropped: version 1 binds each
  agent to its host's address. ``volumes``, ``network`` and ``pc2_network`` (Docker and
  port-range notes) are ignored, and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from common.config.expressions import shift_port
from common.config.issues import ConfigIssue, join_path
from common.config.legacy_fields import (
    AGENT_FIELDS,
    HEALTH_KEYS,
    RESOURCE_KEYS,
    MergedBlock,
    env_text,
    merge_blocks,
)
from common.config.validation import unknown_key_message

__all__ = ["LEGACY_HOSTS", "LegacyAgent", "LegacyFile", "detect_schema", "read_legacy"]

logger = logging.getLogger(__name__)

LEGACY_HOSTS: dict[str, dict[str, Any]] = {
    # The default addresses hardcoded in the original's common/config_manager.py.
    "main_pc": {"address": "192.168.100.16",
                "roles": ["registry", "hub_central", "model_manager"]},
    "pc2": {"address": "192.168.100.17", "roles": ["hub_edge"]},
}
_BLOCKS = {"environment": None, "resource_limits": RESOURCE_KEYS, "health_checks": HEALTH_KEYS}
_IGNORED = ("volumes", "network", "pc2_network")
_TOP_KEYS = {
    "main_pc": ("global_settings", "agent_groups", *_BLOCKS, "volumes", "network"),
    "pc2": ("global_settings", "pc2_services", *_BLOCKS, "pc2_network", "error_bus_port"),
}


@dataclass
class LegacyAgent:
    """One converted agent: its version-1 data, where it was written, where its name is."""

    data: dict[str, Any]
    base: str
    name_path: str


@dataclass
class LegacyFile:
    """One legacy file converted to one host of the version-1 schema."""

    host: str
    source: str
    agents: list[LegacyAgent] = field(default_factory=list)
    host_data: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, MergedBlock] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)


def detect_schema(data: Any) -> str | None:
    """``mesh`` (version 1), ``main_pc`` (agent_groups) or ``pc2`` (pc2_services); None when
    the top-level keys fit none of them, or more than one."""
    if not isinstance(data, dict):
        return None
    found = [kind for kind, key in (("mesh", "agents"), ("main_pc", "agent_groups"),
                                    ("pc2", "pc2_services")) if key in data]
    if not found and ("hosts" in data or "version" in data):
        found = ["mesh"]
    return found[0] if len(found) == 1 else None


def read_legacy(data: dict[str, Any], kind: str, source: str) -> LegacyFile:
    """Convert one legacy document (`kind` from `detect_schema`) to version-1 pieces."""
    result = LegacyFile(host=kind, source=source)
    _check_keys(data, "", _TOP_KEYS[kind], result)
    _read_settings(data, result)
    if kind == "main_pc":
        _read_groups(data.get("agent_groups"), result)
    else:
        _read_services(data.get("pc2_services"), result)
        if "error_bus_port" in data:
            result.host_data["reserved_ports"] = {"error_bus_port": data["error_bus_port"]}
    resources = result.blocks["resource_limits"].values
    if resources:
        for agent in result.agents:
            agent.data["resources"] = dict(resources)
    return result


def _check_keys(data: dict[str, Any], base: str, allowed: tuple[str, ...],
                result: LegacyFile) -> None:
    for key, value in data.items():
        if key not in allowed:
            result.issues.append(ConfigIssue(join_path(base, str(key)),
                                             unknown_key_message(str(key), allowed), value,
                                             result.source))
        elif key in _IGNORED:
            logger.info("%s: %s is not used by the mesh; ignored", result.source,
                        join_path(base, key))


def _read_settings(data: dict[str, Any], result: LegacyFile) -> None:
    nested = data.get("global_settings")
    nested = {} if nested is None else nested
    if not isinstance(nested, dict):
        result.issues.append(ConfigIssue("global_settings", "expected a mapping", nested,
                                         result.source))
        nested = {}
    _check_keys(nested, "global_settings", (*_BLOCKS, *_IGNORED), result)
    for name, keys in _BLOCKS.items():
        places = [(name, data.get(name)), (f"global_settings.{name}", nested.get(name))]
        block = merge_blocks(places, keys, result.source)
        result.blocks[name] = block
        result.issues.extend(block.issues)
    env = env_text(result.blocks["environment"].values)
    result.host_data = {**LEGACY_HOSTS[result.host], "env": env}


def _read_groups(groups: Any, result: LegacyFile) -> None:
    if not isinstance(groups, dict):
        result.issues.append(ConfigIssue("agent_groups", "expected a mapping of group -> "
                                         "{AgentName: {...}}", groups, result.source))
        return
    for group, members in groups.items():
        base = join_path("agent_groups", str(group))
        if not isinstance(members, dict):
            result.issues.append(ConfigIssue(base, "expected a mapping of AgentName -> {...}",
                                             members, result.source))
            continue
        for name, entry in members.items():
            agent_base = join_path(base, str(name))
            data = _agent(entry, agent_base, result, extra=())
            if data is not None:
                data.update(name=name, group=group)
                result.agents.append(LegacyAgent(data, agent_base, agent_base))


def _read_services(services: Any, result: LegacyFile) -> None:
    if not isinstance(services, list):
        result.issues.append(ConfigIssue("pc2_services", "expected a list of services",
                                         services, result.source))
        return
    for index, entry in enumerate(services):
        base = f"pc2_services[{index}]"
        data = _agent(entry, base, result, extra=("name", "host"))
        if data is not None:
            result.agents.append(LegacyAgent(data, base, f"{base}.name"))


def _agent(entry: Any, base: str, result: LegacyFile, extra: tuple[str, ...]) -> dict | None:
    """Version-1 data for one legacy agent entry; unknown keys become issues here."""
    if not isinstance(entry, dict):
        result.issues.append(ConfigIssue(base, "expected a mapping", entry, result.source))
        return None
    allowed = (*AGENT_FIELDS, "params", *extra)
    _check_keys(entry, base, allowed, result)
    data: dict[str, Any] = {"host": result.host}
    for key, value in entry.items():
        if key in AGENT_FIELDS:
            data[AGENT_FIELDS[key]] = value
        elif key == "name":
            data["name"] = value
    if "params" in entry and isinstance(data.setdefault("settings", {}), dict):
        data["settings"] = {**data["settings"], "params": entry["params"]}
    hidden = shift_port(entry.get("health_check_port"), 1)
    if hidden is not None:
        data["ports"] = {"legacy_http": hidden}
    return data
