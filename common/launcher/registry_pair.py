"""The registry pair from the config: which registries, in what order, and each one's peer.

The ``service: registry`` agent on the host holding ``registry`` is the primary; one on the
host holding ``registry_replica`` is its backup (service_registry.replica).  Every process
gets both endpoints as one string, the primary first (common.base_agent.registries), and
fails over along it; each of the two learns its role and its peer's endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.base_agent.registries import join_registries
from common.config import AgentConfig, MeshConfig

__all__ = ["pair_settings", "registries", "registry_string"]

Endpoint = Callable[[AgentConfig], str]


def registries(config: MeshConfig) -> list[AgentConfig]:
    """The registry agents, the ``registry`` role's first, then the replica."""
    return sorted(config.providers("registry"),
                  key=lambda a: not config.has_role(a.host, "registry"))


def registry_string(config: MeshConfig, endpoint: Endpoint) -> str | None:
    """What every process is handed as its registry: the pair's endpoints, primary first."""
    found = registries(config)
    return join_registries([endpoint(a) for a in found]) if found else None


def pair_settings(config: MeshConfig, agent: AgentConfig, endpoint: Endpoint) -> dict[str, Any]:
    """A registry's role and peer when there are two of them; nothing for a single one."""
    others = [a for a in registries(config) if a.name != agent.name]
    if not others:
        return {}
    role = "primary" if config.has_role(agent.host, "registry") else "backup"
    return {"role": role, "peer": endpoint(others[0])}
