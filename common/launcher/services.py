"""What the mesh's own services derive from the config, so that nothing is copied by hand.

The agent marked ``service: hub`` learns its role (central or edge, from its host's roles),
its peer hub's endpoint, the agent→host map and the dependency graph; ``service:
model_manager`` learns every host's GPUs (``hosts.*.gpu``) and which host is its own;
``service: registry`` its database path, or with ``registry.backend: etcd`` the etcd endpoints
(and the hubs and the model manager their election instead of a Binary-Star peer).  These are
handed over as settings, after the agent's own tunables (the loader refuses a config that
writes one of them by hand).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from common.config import AgentConfig, MeshConfig
from common.config.slo_targets import covered_agents
from common.launcher.registry_pair import pair_settings

__all__ = ["derived_settings", "peer_hub", "slo_objectives"]

Endpoint = Callable[[AgentConfig], str]


def derived_settings(config: MeshConfig, agent: AgentConfig, endpoint: Endpoint,
                     state_dir: Path, launchers: Mapping[str, str] | None = None
                     ) -> dict[str, Any]:
    """The settings agent's service takes from the config (empty for other agents);
    launchers: each host's launcher control endpoint (the hubs re-learn from them)."""
    if agent.service == "hub":
        return {**_hub(config, agent, endpoint), "slos": _slos(config, agent, state_dir),
                **_history(config, agent, state_dir, launchers or {}),
                **_election(config, agent, endpoint)}
    if agent.service == "model_manager":
        return {**_model_manager(config, agent), **_election(config, agent, endpoint)}
    if agent.service == "registry" and config.registry.backend == "etcd":
        return {"etcd_endpoints": list(config.registry.endpoints),
                "etcd_timeout_s": config.registry.timeout_s}
    if agent.service == "registry":  # the replica's file apart: tests share a state folder
        db = "registry.db" if config.has_role(agent.host, "registry") else "registry-replica.db"
        return {"db_path": str(state_dir / db), **pair_settings(config, agent, endpoint)}
    return {}


def _election(config: MeshConfig, agent: AgentConfig, endpoint: Endpoint) -> dict[str, Any]:
    """With registry backend etcd, the hub's central role and the model manager are elected
    (common.election) among the agents of the service, on the registry's etcd; nothing
    otherwise."""
    if config.registry.backend != "etcd" or agent.service is None:
        return {}
    registry = config.registry
    return {"election": {"endpoints": list(registry.endpoints), "ttl_s": registry.leader_ttl_s,
                         "timeout_s": registry.timeout_s,
                         "candidates": {a.name: endpoint(a)
                                        for a in config.providers(agent.service)}}}


def peer_hub(config: MeshConfig, agent: AgentConfig) -> AgentConfig | None:
    """The hub agent's partner: the edge hub for the central one and the other way round."""
    wanted = "hub_edge" if config.has_role(agent.host, "hub_central") else "hub_central"
    for other in config.providers("hub"):
        if other.name != agent.name and config.has_role(other.host, wanted):
            return other
    return None


def _hub(config: MeshConfig, agent: AgentConfig, endpoint: Endpoint) -> dict[str, Any]:
    peer = None if config.registry.backend == "etcd" else peer_hub(config, agent)
    settings: dict[str, Any] = {
        "role": "central" if config.has_role(agent.host, "hub_central") else "edge",
        "host_name": agent.host,
        "hosts": {a.name: a.host for a in config.agents},
        "dependencies": {a.name: list(a.dependencies) for a in config.agents},
        "http_port": agent.ports["http_port"],
        "anomaly": config.anomaly.model_dump(mode="json"),
    }
    if peer is not None:
        settings.update(peer=endpoint(peer), peer_host_name=peer.host)
    return settings


def slo_objectives(config: MeshConfig) -> list[dict[str, Any]]:
    """Each of ``slos.objectives`` with its agents (and their hosts) resolved, its window
    filled in and its target as a ratio: what the hubs and ``mesh slo rules`` work from."""
    objectives = []
    for slo in config.slos.objectives:
        agents = covered_agents(slo, config.agents)
        objectives.append({"name": slo.name, "sli": slo.sli,
                           "objective": slo.target_percent / 100.0,
                           "window_s": slo.window or config.slos.window,
                           "threshold_s": slo.threshold_s, "agents": [a.name for a in agents],
                           "hosts": {a.name: a.host for a in agents}})
    return objectives


def _slos(config: MeshConfig, hub: AgentConfig, state_dir: Path) -> dict[str, Any]:
    """The SLOs, the SLI history and the reports in the hub's state folder (named after the
    hub: both hubs may share a folder in tests)."""
    return {"objectives": slo_objectives(config), "report_every_s": config.slos.report_every,
            "db_path": str(state_dir / f"slo-{hub.name}.db"),
            "report_dir": str(state_dir / f"slo-{hub.name}")}


def _history(config: MeshConfig, hub: AgentConfig, state_dir: Path,
             launchers: Mapping[str, str]) -> dict[str, Any]:
    """The hub's event log (in the state folder, named after the hub), its retention, the
    launchers it re-learns restart counts from, and the Alertmanager it posts to."""
    manager = config.alertmanager
    return {"events_db": str(state_dir / f"{hub.name}.events.db"),
            "events": config.events.model_dump(mode="json"), "launchers": dict(launchers),
            "alertmanager": manager.model_dump(mode="json") if manager else None}


def _model_manager(config: MeshConfig, agent: AgentConfig) -> dict[str, Any]:
    gpus = {name: {"gpu": host.gpu.model_dump(mode="json")}
            for name, host in config.hosts.items() if host.gpu is not None}
    return {"hosts": gpus, "local_host": agent.host}
