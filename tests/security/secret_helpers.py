"""For the secrets tests: one unique value per source, and a two-host mesh declaring them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.testing.mesh import two_host_config

__all__ = ["HUB", "REGISTRY", "SIGNER", "Secrets", "entry", "marker", "mesh_agents", "mesh_config",
           "variable"]

REGISTRY = "service_registry.agent:ServiceRegistry"
HUB = "observability_hub.hub:ObservabilityHub"
SIGNER = "common.testing.agents:SigningAgent"
HUB_TOKEN = "MESH_HUB_TOKEN"  # the name the hub reads its API token from


@dataclass
class Secrets:
    """One unique value per source: a file, a launcher variable, the hub's token variable."""

    file_value: str
    env_value: str
    hub_value: str
    file: Path
    env_var: str
    hub_var: str
    unset_var: str  # an optional secret's source that nobody sets

    @property
    def values(self) -> list[str]:
        return [self.file_value, self.env_value, self.hub_value]


def marker() -> str:
    return f"s3cr3t-{uuid.uuid4()}"


def variable(stem: str) -> str:
    return f"TEST_{stem}_{uuid.uuid4().hex[:8].upper()}"


def entry(name: str, host: str, port: int, module: str = SIGNER, **extra: Any) -> dict[str, Any]:
    deps = [] if module in (REGISTRY, HUB) else ["ServiceRegistry"]
    return {"name": name, "host": host, "module": module, "port": port,
            "dependencies": deps, **extra}


def mesh_agents(s: Secrets, ports: list[int]) -> list[dict[str, Any]]:
    """Registry and hub on main_pc; a signer per host, keyed from a file and from a launcher
    variable; a third signer whose optional key is not set anywhere."""
    return [
        entry("ServiceRegistry", "main_pc", ports[0], REGISTRY, service="registry"),
        entry("ObservabilityHub", "main_pc", ports[1], HUB, ports={"http_port": ports[2]},
              service="hub", secrets={HUB_TOKEN: {"env": s.hub_var}}),
        entry("SignerMain", "main_pc", ports[3], secrets={"API_KEY": {"file": str(s.file)}}),
        entry("SignerPc2", "pc2", ports[4], secrets={"API_KEY": {"env": s.env_var}}),
        entry("Unkeyed", "pc2", ports[5],
              secrets={"API_KEY": {"env": s.unset_var, "optional": True}}),
    ]


def mesh_config(tmp_path: Path, agents: list[dict[str, Any]]) -> dict[str, Any]:
    return two_host_config(tmp_path, agents,
                       health={"timeout_s": 0.5, "retries": 3, "start_period_s": 20},
                       main_pc={"roles": ["registry", "hub_central"]})
