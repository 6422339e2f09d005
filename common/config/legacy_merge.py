"""Join converted legacy files into one version-1 document, with the map back to the files.

In the original system each file was its own namespace: a dependency named an agent of the same
machine, and ObservabilityHub existed on both machines. Version 1 has one namespace, so a name a
later file reuses is renamed ``<Name>_<host>`` (PC2's hub becomes ``ObservabilityHub_pc2``) and
that file's dependencies on it follow; the rename is logged. Settings found in both files
(``health_checks``) take the first file's value, MainPC's when both are given.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from common.config.legacy import LegacyAgent, LegacyFile
from common.config.pathmap import PathMap

__all__ = ["combine_legacy"]

logger = logging.getLogger(__name__)

_AGENT_FIELD_PATHS = {
    "health_port": "health_check_port",
    "ports.legacy_http": "health_check_port+1",
    "settings": "config",
    "settings.params": "params",
    "env": "env_vars",
    "host": "",
}


def combine_legacy(files: Sequence[LegacyFile]) -> tuple[dict[str, Any], PathMap]:
    """One version-1 document from converted legacy files, and the map back to their paths."""
    data: dict[str, Any] = {"version": 1, "global": {"health": {}}, "hosts": {}, "agents": []}
    paths = PathMap()
    taken: set[str] = set()
    for legacy in files:
        renames = _renames(legacy, taken)
        data["hosts"][legacy.host] = legacy.host_data
        _map_host(legacy, paths)
        _merge_health(legacy, data["global"]["health"], paths)
        for agent in legacy.agents:
            _map_agent(len(data["agents"]), agent, legacy, paths)
            data["agents"].append(_renamed(agent.data, renames))
        taken.update(_name(agent.data, renames) for agent in legacy.agents)
    return data, paths


def _renames(legacy: LegacyFile, taken: set[str]) -> dict[str, str]:
    renames = {}
    for agent in legacy.agents:
        name = agent.data.get("name")
        if isinstance(name, str) and name in taken:
            renames[name] = f"{name}_{legacy.host}"
            logger.info("%s: %s is also the name of an agent in an earlier file; it is called "
                        "%s here", legacy.source, name, renames[name])
    return renames


def _name(data: dict[str, Any], renames: dict[str, str]) -> Any:
    name = data.get("name")
    return renames.get(name, name) if isinstance(name, str) else name


def _renamed(data: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    result = dict(data, name=_name(data, renames))
    deps = data.get("dependencies")
    if isinstance(deps, list):
        result["dependencies"] = [renames.get(d, d) if isinstance(d, str) else d for d in deps]
    return result


def _map_agent(index: int, agent: LegacyAgent, legacy: LegacyFile, paths: PathMap) -> None:
    prefix = f"agents[{index}]"
    paths.add(prefix, legacy.source, agent.base)
    paths.add(f"{prefix}.name", legacy.source, agent.name_path)
    for field, original in _AGENT_FIELD_PATHS.items():
        paths.add(f"{prefix}.{field}", legacy.source,
                  f"{agent.base}.{original}" if original else agent.base)
    for key, original in legacy.blocks["resource_limits"].paths.items():
        paths.add(f"{prefix}.resources.{key}", legacy.source, original)


def _map_host(legacy: LegacyFile, paths: PathMap) -> None:
    prefix = f"hosts.{legacy.host}"
    for key, original in legacy.blocks["environment"].paths.items():
        paths.add(f"{prefix}.env.{key}", legacy.source, original)
    if "reserved_ports" in legacy.host_data:
        paths.add(f"{prefix}.reserved_ports.error_bus_port", legacy.source, "error_bus_port")


def _merge_health(legacy: LegacyFile, health: dict[str, Any], paths: PathMap) -> None:
    block = legacy.blocks["health_checks"]
    for key, value in block.values.items():
        if key in health:
            if health[key] != value:
                logger.info("%s: %s is %r here but %r in an earlier file; keeping %r",
                            legacy.source, block.paths[key], value, health[key], health[key])
            continue
        health[key] = value
        paths.add(f"global.health.{key}", legacy.source, block.paths[key])
