"""Startup configs for N hosts on loopback addresses, for tests and benchmarks of the scale work
(for hosts in network namespaces, see common.testing.nhosts).

``n_host_config(workdir, hosts, agents)``: hosts ``main_pc``, ``pc2``, ``pc3``, ... at
``PREFIX.1``, ``PREFIX.2``, ... (each launcher on a port free now), the registry and central hub
roles on the first, the edge hub role on the second; ``echo_agents(count, hosts, ports)``
spreads echo agents over them, each depending on the registry.  Nothing else differs from a
shipped config: every service derives its view from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.testing.mesh import free_ports

__all__ = ["ECHO", "echo_agents", "host_names", "mesh_services", "n_host_config"]

ECHO = "common.testing.agents:EchoAgent"


def host_names(hosts: int) -> list[str]:
    return ["main_pc", "pc2", *[f"pc{i + 1}" for i in range(2, hosts)]]


def mesh_services(hosts: list[str], p: list[int]) -> list[dict[str, Any]]:
    """The registry and central hub on hosts[0], the edge hub on hosts[1], on ports p (5)."""
    return [
        {"name": "ServiceRegistry", "host": hosts[0], "service": "registry",
         "module": "service_registry.agent:ServiceRegistry", "port": p[0]},
        {"name": "ObservabilityHub", "host": hosts[0], "service": "hub",
         "module": "observability_hub.hub:ObservabilityHub", "port": p[1],
         "ports": {"http_port": p[2]}},
        {"name": "ObservabilityHub_pc2", "host": hosts[1], "service": "hub",
         "module": "observability_hub.hub:ObservabilityHub", "port": p[3],
         "ports": {"http_port": p[4]}}]


def echo_agents(count: int, hosts: list[str], ports: list[int]) -> list[dict[str, Any]]:
    """count echo agents, round robin over hosts, each depending on the registry, on ports."""
    return [{"name": f"Echo{i:03d}", "host": hosts[i % len(hosts)], "module": ECHO,
             "port": ports[i], "dependencies": ["ServiceRegistry"]} for i in range(count)]


def n_host_config(workdir: Path | str, hosts: int, agents: int, *, prefix: str,
                  interval_s: float = 0.5, probe_s: float | None = None) -> dict[str, Any]:
    """A config of hosts hosts at prefix.1 .. prefix.N with the mesh services and agents echo
    agents; heartbeats every interval_s, health probes every probe_s (interval_s if None),
    each probe's timeout interval_s."""
    names = host_names(hosts)
    # one draw: ports released between two draws can come back, and the config's port space
    # is one for every host (a collision is a config error)
    ports = free_ports(hosts + 5 + agents, f"{prefix}.1")
    launchers, services, echoes = ports[:hosts], ports[hosts:hosts + 5], ports[hosts + 5:]
    host_cfg: dict[str, Any] = {
        name: {"address": f"{prefix}.{i + 1}", "launcher_port": launchers[i],
               "env": {"MESH_STATE_DIR": str(Path(workdir) / "state" / name)}}
        for i, name in enumerate(names)}
    host_cfg[names[0]]["roles"] = ["registry", "hub_central"]
    host_cfg[names[1]]["roles"] = ["hub_edge"]
    return {"version": 1,
            "global": {"heartbeat_interval_s": interval_s, "stop_timeout_s": 3,
                       "log_dir": str(Path(workdir) / "logs"),
                       "health": {"interval_s": probe_s or interval_s,
                                  "timeout_s": interval_s,
                                  "retries": 3, "start_period_s": 20}},
            "hosts": host_cfg,
            "agents": [*mesh_services(names, services), *echo_agents(agents, names, echoes)]}
