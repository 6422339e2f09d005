"""Where the running mesh is: its registry, hubs and VRAM manager, from a flag or the config.

An explicit flag wins (``--registry`` / ``MESH_REGISTRY``, ``--hub`` / ``MESH_HUB``).  Otherwise
the startup config (``--config`` / ``MESH_CONFIG``, default ``./startup_config.yaml``) names them:

- the registry: every ``service: registry`` agent's endpoint, the host with the ``registry``
  role first; the first that answers a short ``health`` is used;
- the hubs: every ``service: hub`` agent's ``http://ADDRESS:ports.http_port`` (its request
  endpoint when it declares no HTTP port), the ``hub_central`` host first, so a reader falls
  back to the edge hub when the central one does not answer;
- the VRAM manager: the ``service: model_manager`` agent's name.

With neither a flag nor a config, the error says what to pass.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from common.base_agent.client import Client, registry_from_env
from common.base_agent.errors import MeshError
from common.cli.hosts import load
from common.cli.output import fail
from common.config import AgentConfig, MeshConfig

__all__ = ["PROBE_TIMEOUT_S", "config_hubs", "config_manager", "config_registries",
           "hub_urls", "mesh_config", "registry_endpoint"]

PROBE_TIMEOUT_S = 0.5  # per registry candidate, when the config names more than one


def _address(config: MeshConfig, agent: AgentConfig) -> str:
    return config.hosts[agent.host].address


def config_registries(config: MeshConfig) -> list[str]:
    """The registry providers' endpoints, the ``registry`` role's host first."""
    agents = sorted(config.providers("registry"),
                    key=lambda a: not config.has_role(a.host, "registry"))
    return [f"tcp://{_address(config, a)}:{a.port}" for a in agents]


def config_hubs(config: MeshConfig) -> list[str]:
    """Each hub's HTTP URL (request endpoint if it has no ``ports.http_port``), central first."""
    agents = sorted(config.providers("hub"),
                    key=lambda a: not config.has_role(a.host, "hub_central"))
    return [f"http://{_address(config, a)}:{a.ports['http_port']}" if "http_port" in a.ports
            else f"tcp://{_address(config, a)}:{a.port}" for a in agents]


def config_manager(config: MeshConfig) -> str | None:
    """The VRAM manager's registered name (``service: model_manager``), if the config has one."""
    managers = config.providers("model_manager")
    return managers[0].name if managers else None


def mesh_config(config: str, wanted: str) -> MeshConfig:
    """The config named by --config / MESH_CONFIG, or an exit-2 error saying what to pass."""
    if not Path(config).is_file():
        raise fail(f"no {wanted}: {config} does not exist; run in the folder with the startup "
                   f"config, or pass --config FILE (or set MESH_CONFIG), or {_FLAGS[wanted]}", 2)
    return _loaded(config)


@lru_cache(maxsize=4)
def _loaded(config: str) -> MeshConfig:
    """Loaded (and its security mode set up) once per command, however many ask."""
    return load(config)


_FLAGS = {"registry": "--registry tcp://HOST:PORT (or set MESH_REGISTRY)",
          "hub": "--hub URL (or set MESH_HUB)"}


def registry_endpoint(registry: str | None, config: str,
                      probe_timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """--registry, else MESH_REGISTRY, else the config's registry (the first that answers)."""
    explicit = registry_from_env(registry)
    if explicit:
        return explicit
    cfg = mesh_config(config, "registry")
    endpoints = config_registries(cfg)
    if not endpoints:
        raise fail(f"{config} has no agent with `service: registry`; pass "
                   f"{_FLAGS['registry']}", 2)
    return endpoints[0] if len(endpoints) == 1 else _answering(endpoints, probe_timeout_s)


def _answering(endpoints: list[str], timeout_s: float) -> str:
    """The first endpoint that answers ``health`` within timeout_s; else the first one."""
    with Client(None, source="mesh-locate") as client:
        for endpoint in endpoints:
            try:
                client.call_endpoint(endpoint, "health", timeout_s=timeout_s, retries=0)
                return endpoint
            except MeshError:
                continue
    return endpoints[0]


def hub_urls(hub: str | list[str] | None, config: str) -> list[str]:
    """--hub (comma-separated or repeated), else MESH_HUB, else every hub of the config."""
    given = hub if isinstance(hub, list) else [hub or ""]
    urls = [u.strip() for item in given for u in item.split(",") if u.strip()]
    if urls:
        return urls
    cfg = mesh_config(config, "hub")
    found = config_hubs(cfg)
    if not found:
        raise fail(f"{config} has no agent with `service: hub`; pass {_FLAGS['hub']}", 2)
    return found
