"""Checks across the parts of a config, run after each part has passed the schema.

Ports are one space for the whole mesh: every declared port of every agent on every host
(``port``, ``health_port``, each ``ports:`` entry) and every host's ``reserved_ports`` must be
different from all others, whatever the host. The original system ran both hosts' ports in one
numbering plan, both hosts run on one machine in tests (127.0.0.1 and 127.0.0.2, where agents
binding 0.0.0.0 would clash), and migration may move an agent to the other host without
renumbering it. So a port used twice is an error even across hosts.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.base_agent.metrics import LATENCY_BUCKETS_S
from common.config.agent_schema import SERVICE_ROLES, AgentConfig
from common.config.external import ExternalService
from common.config.graph import find_cycles
from common.config.host_schema import SINGLETON_ROLES, HostConfig
from common.config.issues import REDACTED, ConfigIssue, join_path, looks_secret
from common.config.schema import MeshConfig
from common.config.slo_targets import covered_agents
from common.config.slos import SloObjective

__all__ = ["ConfigView", "check_config", "check_view"]


@dataclass(frozen=True)
class ConfigView:
    """The parts of a config that passed the schema, plus every name written (valid or not),
    so that one broken agent does not also produce 'unknown dependency' errors elsewhere."""

    hosts: Mapping[str, HostConfig]
    agents: Sequence[tuple[int, AgentConfig]]
    known_hosts: frozenset[str]
    known_agents: frozenset[str]
    objectives: Sequence[tuple[int, SloObjective]] = ()  # slos.objectives that passed
    external: Sequence[tuple[int, ExternalService]] = ()  # services: that passed
    registry_backend: str = "sqlite"  # etcd: the registry and the model manager on many hosts


def check_config(config: MeshConfig) -> list[ConfigIssue]:
    """Every semantic issue of a config that already passed the schema."""
    view = ConfigView(config.hosts, list(enumerate(config.agents)), frozenset(config.hosts),
                      frozenset(agent.name for agent in config.agents)
                      | frozenset(service.name for service in config.services),
                      list(enumerate(config.slos.objectives)), list(enumerate(config.services)),
                      config.registry.backend)
    return check_view(view)


def check_view(view: ConfigView) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for check in (_duplicate_names, _host_refs, _roles, _services, _derived_settings,
                  _dependencies, _cycles, _ports, _secrets, _slos, _external, _failover,
                  _registry_pair):
        issues.extend(check(view))
    return issues


def _at(index: int, field: str = "") -> str:
    path = f"agents[{index}]"
    return f"{path}.{field}" if field else path


def _duplicate_names(view: ConfigView) -> Iterator[ConfigIssue]:
    first: dict[str, int] = {}
    for index, agent in view.agents:
        if agent.name in first:
            yield ConfigIssue(_at(index, "name"), f"duplicate agent name, first defined at "
                              f"{_at(first[agent.name])}", agent.name)
        else:
            first[agent.name] = index


def _host_refs(view: ConfigView) -> Iterator[ConfigIssue]:
    if not view.known_hosts:
        return  # no hosts at all is reported once, at hosts:
    hosts = ", ".join(sorted(view.known_hosts))
    for index, agent in view.agents:
        if agent.host not in view.known_hosts:
            yield ConfigIssue(_at(index, "host"), f"unknown host; hosts are: {hosts}", agent.host)


ELECTED_ROLES = ("registry", "model_manager")  # with etcd: one per host / elected standbys


def _roles(view: ConfigView) -> Iterator[ConfigIssue]:
    for role in SINGLETON_ROLES:
        if view.registry_backend == "etcd" and role in ELECTED_ROLES:
            continue
        holders = [name for name, host in view.hosts.items() if role in host.roles]
        for name in holders[1:]:
            yield ConfigIssue(f"hosts.{name}.roles", f"role {role!r} is already held by host "
                              f"{holders[0]!r}; only one host may hold it", role)


def _services(view: ConfigView) -> Iterator[ConfigIssue]:
    """A service runs on a host holding its role, once per host."""
    seen: dict[tuple[str, str], int] = {}
    for index, agent in view.agents:
        if agent.service is None or agent.host not in view.hosts:
            continue
        roles = SERVICE_ROLES[agent.service]
        held = view.hosts[agent.host].roles
        key = (agent.service, agent.host)
        if not set(roles) & set(held):
            yield ConfigIssue(_at(index, "service"), f"host {agent.host!r} does not hold the "
                              f"role {' or '.join(roles)} (its roles: {list(held)}); add the "
                              f"role under hosts.{agent.host}.roles or move the agent",
                              agent.service)
        elif key in seen:
            yield ConfigIssue(_at(index, "service"), f"host {agent.host!r} already runs this "
                              f"service: {_at(seen[key])}", agent.service)
        else:
            seen[key] = index
    for name, host in view.hosts.items():
        if {"hub_central", "hub_edge"} <= set(host.roles):
            yield ConfigIssue(f"hosts.{name}.roles", "a host holds hub_central or hub_edge, "
                              "not both", "hub_edge")


# Settings the mesh's services once took from hand-written copies; the host plan now derives
# each from the config.  A config that still carries one is told what replaced it.
DERIVED_SETTINGS: dict[str, dict[str, str]] = {
    "hub": {
        "role": "hosts.*.roles (hub_central or hub_edge) of the hub's host",
        "peer": "the other hub agent's host address and port",
        "http_port": "the hub agent's ports.http_port",
        "host_name": "the hub agent's host",
        "peer_host_name": "the other hub agent's host",
        "hosts": "each agent's own host:",
        "dependencies": "each agent's own dependencies:",
        "slos": "the config's slos: section",
        "anomaly": "the config's anomaly: section",
        "events_db": "global.log_dir (the hub's state folder)",
        "events": "the config's events: section",
        "alertmanager": "the config's alertmanager: section",
        "launchers": "hosts.*.address and hosts.*.launcher_port",
        "election": "the config's registry: section (backend etcd)",
    },
    "model_manager": {
        "hosts": "hosts.*.gpu",
        "local_host": "the model manager agent's host",
        "election": "the config's registry: section (backend etcd)",
    },
    "registry": {
        "role": "hosts.*.roles (registry or registry_replica) of the registry's host",
        "peer": "the other registry agent's host address and port",
        "etcd_endpoints": "registry.endpoints",
        "etcd_timeout_s": "registry.timeout_s",
    },
}


def _derived_settings(view: ConfigView) -> Iterator[ConfigIssue]:
    for index, agent in view.agents:
        if agent.service is None:
            continue
        derived = DERIVED_SETTINGS[agent.service]
        for key in agent.settings.keys() & derived.keys():
            yield ConfigIssue(_at(index, f"settings.{key}"), f"no longer written by hand: "
                              f"derived from {derived[key]}; remove it")
        if agent.service == "hub" and "http_port" not in agent.ports:
            yield ConfigIssue(_at(index, "ports"), "a hub declares its dashboard and /metrics "
                              "port as ports.http_port")


def _failover(view: ConfigView) -> Iterator[ConfigIssue]:
    """``failover.host``: another known host, the one holding ``registry`` (the tie-breaker
    of a partition: common.config.failover); the mesh's own services fail over otherwise."""
    for index, agent in view.agents:
        target = agent.failover.host if agent.failover else None
        if target is None:
            continue
        path = _at(index, "failover.host")
        if target not in view.hosts:
            yield ConfigIssue(path, f"unknown host; hosts are: {', '.join(view.hosts)}", target)
        elif target == agent.host:
            yield ConfigIssue(path, "is the agent's own host; name the host to move to", target)
        elif "registry" not in view.hosts[target].roles:
            yield ConfigIssue(path, "an agent fails over only to the host holding the registry "
                              "role (it decides a partition: docs/DR.md)", target)
        if agent.service is not None:
            yield ConfigIssue(_at(index, "failover"), "the mesh's own services fail over by "
                              "their roles (registry_replica, hub_edge), not failover:",
                              agent.service)


def _registry_pair(view: ConfigView) -> Iterator[ConfigIssue]:
    """A replica registry follows a primary: no ``registry_replica`` agent without one."""
    hosts = {agent.host for _, agent in view.agents if agent.service == "registry"}
    primary = any("registry" in view.hosts[h].roles for h in hosts if h in view.hosts)
    for index, agent in view.agents:
        if agent.service == "registry" and agent.host in view.hosts and not primary \
                and "registry_replica" in view.hosts[agent.host].roles:
            yield ConfigIssue(_at(index, "service"), "a registry replica needs a primary: no "
                              "service: registry agent on the host holding the registry role",
                              agent.host)


def _dependencies(view: ConfigView) -> Iterator[ConfigIssue]:
    by_name = {agent.name: agent for _, agent in view.agents}
    for index, agent in view.agents:
        seen: set[str] = set()
        for position, dep in enumerate(agent.dependencies):
            path = _at(index, f"dependencies[{position}]")
            if dep in seen:
                yield ConfigIssue(path, "dependency listed twice", dep)
            elif dep not in view.known_agents:
                yield ConfigIssue(path, _unknown_agent(dep, view.known_agents), dep)
            elif agent.required and dep in by_name and not by_name[dep].required:
                yield ConfigIssue(path, "a required agent depends on an optional one "
                                  "(required: false); make both required or neither", dep)
            seen.add(dep)


def _unknown_agent(name: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else " defined on any host"
    return f"depends on an unknown agent: no agent of that name{hint}"


def _cycles(view: ConfigView) -> Iterator[ConfigIssue]:
    first: dict[str, tuple[int, AgentConfig]] = {}
    for index, agent in view.agents:
        first.setdefault(agent.name, (index, agent))
    graph = {name: agent.dependencies for name, (_, agent) in first.items()}
    for cycle in find_cycles(graph):
        index, agent = first[cycle[0]]
        position = agent.dependencies.index(cycle[1])
        yield ConfigIssue(_at(index, f"dependencies[{position}]"),
                          "dependency cycle: " + " -> ".join(cycle))


def _ports(view: ConfigView) -> Iterator[ConfigIssue]:
    owners: dict[int, str] = {}
    for path, owner, port in _port_claims(view):
        if port in owners:
            yield ConfigIssue(path, f"{port} collides with {owners[port]}")
        else:
            owners[port] = owner


def _port_claims(view: ConfigView) -> Iterator[tuple[str, str, int]]:
    """(field path, who holds it, port) for every port of the mesh: the agents' in document
    order, then each host's launcher port and reserved ports, so that a clash names the agent
    involved."""
    for index, agent in view.agents:
        for field, port in agent.declared_ports():
            yield _at(index, field), f"{agent.host}.{agent.name}.{field}", port
    for index, service in view.external:
        yield f"services[{index}].port", f"{service.host}.{service.name}", service.port
    for host_name, host in view.hosts.items():
        if host.launcher_port is not None:
            yield (f"hosts.{host_name}.launcher_port", f"{host_name}.launcher",
                   host.launcher_port)
        for key, port in host.reserved_ports.items():
            yield f"hosts.{host_name}.reserved_ports.{key}", f"{host_name}.{key}", port


def _external(view: ConfigView) -> Iterator[ConfigIssue]:
    """services: on known hosts, named apart from the agents and from each other."""
    agents = {agent.name for _, agent in view.agents}
    seen: set[str] = set()
    for index, service in view.external:
        if view.known_hosts and service.host not in view.known_hosts:
            yield ConfigIssue(f"services[{index}].host", "unknown host; hosts are: "
                              + ", ".join(sorted(view.known_hosts)), service.host)
        if service.name in agents or service.name in seen:
            yield ConfigIssue(f"services[{index}].name", "the name of an agent or of another "
                              "service; names are unique", service.name)
        seen.add(service.name)


def _secrets(view: ConfigView) -> Iterator[ConfigIssue]:
    for host_name, host in view.hosts.items():
        yield from _secret_values(host.env, f"hosts.{host_name}.env")
    for index, agent in view.agents:
        yield from _secret_values(agent.env, _at(index, "env"))
        yield from _secret_values(agent.settings, _at(index, "settings"))
        for name in agent.secrets.keys() & agent.env.keys():
            yield ConfigIssue(_at(index, f"env.{name}"), "also declared under secrets:; "
                              "a variable comes from one place only", REDACTED)


def _secret_values(data: Any, path: str) -> Iterator[ConfigIssue]:
    """Literal values under keys named like credentials, anywhere in nested settings."""
    items = data.items() if isinstance(data, Mapping) else enumerate(data)
    for key, value in items:
        here = join_path(path, key)
        if isinstance(value, (Mapping, list)):
            yield from _secret_values(value, here)
        elif isinstance(key, str) and looks_secret(key) and _is_literal(value):
            yield ConfigIssue(here, f"looks like a secret written as a value; declare it under "
                              f"the agent's secrets: as {key}: {{env: VARIABLE}} or "
                              f"{{file: PATH}}", REDACTED)


def _is_literal(value: Any) -> bool:
    """A non-empty string that is not a plain number or boolean word."""
    if not isinstance(value, str) or not value.strip():
        return False
    text = value.strip().lower()
    return not (text.isdecimal() or text in {"true", "false", "yes", "no", "on", "off"})


def _slos(view: ConfigView) -> Iterator[ConfigIssue]:
    """Each objective names agents and hosts that exist, covers at least one agent, has a
    unique name, and a latency threshold that is a bucket bound of the latency histogram."""
    seen: set[str] = set()
    for index, slo in view.objectives:
        path = f"slos.objectives[{index}]"
        if slo.name in seen:
            yield ConfigIssue(f"{path}.name", "duplicate SLO name", slo.name)
        seen.add(slo.name)
        if slo.agent is not None and slo.agent not in view.known_agents:
            hint = _unknown_agent(slo.agent, view.known_agents).split(": ", 1)[1]
            yield ConfigIssue(f"{path}.agent", f"unknown agent: {hint}", slo.agent)
        elif slo.host is not None and slo.host not in view.known_hosts:
            yield ConfigIssue(f"{path}.host", "unknown host; hosts are: "
                              + ", ".join(sorted(view.known_hosts)), slo.host)
        elif slo.kind is not None and not covered_agents(slo, (a for _, a in view.agents)):
            yield ConfigIssue(f"{path}.kind", "no agent of this kind in the config", slo.kind)
        if slo.threshold_s is not None and slo.threshold_s not in LATENCY_BUCKETS_S:
            yield ConfigIssue(f"{path}.threshold_s", "must be a bound of the latency "
                              f"histogram: {', '.join(f'{b:g}' for b in LATENCY_BUCKETS_S)}",
                              slo.threshold_s)
