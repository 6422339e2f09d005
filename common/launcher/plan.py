"""From a startup config to what one host's launcher runs: endpoints, specs, stop order.

Secrets are resolved here, from the launcher's environment or from files, into the child's
environment (the spec travels over the fork server's socketpair); they never reach argv, logs
or ``mesh config show``.  The fork server itself starts without them (``secret_variables``),
so an agent holds only the secrets it declares.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from common.base_agent.services import service_variable
from common.config import AgentConfig, MeshConfig, SecretRef, dependency_waves
from common.config.legacy_env import expand, expansion_values
from common.launcher.legacy import missing_paths, script_fields
from common.launcher.registry_pair import registry_string
from common.launcher.services import derived_settings
from common.spawn.spec import AgentSpec

__all__ = ["HostPlan", "SecretError"]

log = logging.getLogger(__name__)


class SecretError(Exception):
    """A secret the config names cannot be read; the message names agent and source."""


class HostPlan:
    """Everything one host's launcher needs to know about the mesh."""

    def __init__(self, config: MeshConfig, host: str, addresses: dict[str, str] | None = None,
                 base_dir: str = ".", log_level: str = "INFO") -> None:
        if host not in config.hosts:
            raise KeyError(f"unknown host {host!r}; the config has: {', '.join(config.hosts)}")
        self.config = config
        self.host = host
        self.overrides = dict(addresses or {})  # `--address HOST=IP`, kept across a reload
        self.addresses = {name: h.address for name, h in config.hosts.items()}
        self.addresses.update(self.overrides)
        self.base_dir = base_dir
        self.log_level = log_level  # `mesh up --log-level`: every agent's, kept across a reload
        self.agents = {a.name: a for a in config.agents_on(host)}
        self.waves = dependency_waves(config, host)

    def address(self, agent: AgentConfig) -> str:
        return self.addresses[agent.host]

    def endpoint(self, agent: AgentConfig) -> str:
        return f"tcp://{self.address(agent)}:{agent.port}"

    def launcher_endpoint(self, host: str | None = None) -> str:
        """Where host's launcher (this plan's by default) takes control requests: tcp on the
        host's address (``--address`` overrides apply), at ``hosts.<h>.launcher_port``."""
        host = host or self.host
        return f"tcp://{self.addresses[host]}:{self.config.launcher_port(host)}"

    def probe_endpoint(self, agent: AgentConfig) -> tuple[str, bool]:
        """Where to ask for health, and whether it is the legacy one-JSON-frame request."""
        if agent.script_path and agent.health_port is not None:
            return f"tcp://{self.address(agent)}:{agent.health_port}", True
        return self.endpoint(agent), bool(agent.script_path)

    @property
    def registry_endpoint(self) -> str | None:
        """The ``service: registry`` agent's endpoint (on the host with the registry role),
        then the replica's where a host holds ``registry_replica`` (one string, common.
        launcher.registry_pair); with ``registry.backend: etcd``, this host's own registry
        agent where it has one."""
        if self.config.registry.backend != "etcd":
            return registry_string(self.config, self.endpoint)
        providers = self.config.providers("registry")
        providers.sort(key=lambda a: a.host != self.host)
        return self.endpoint(providers[0]) if providers else None

    @property
    def hub_endpoints(self) -> list[str]:
        """The hubs' request endpoints, this host's own hub first."""
        hubs = sorted(self.config.providers("hub"), key=lambda a: a.host != self.host)
        return [self.endpoint(a) for a in hubs]

    @property
    def manager_endpoint(self) -> str | None:
        managers = self.config.providers("model_manager")
        return self.endpoint(managers[0]) if managers else None

    def remote_dependencies(self, agent: AgentConfig) -> list[str]:
        return [d for d in agent.dependencies if d not in self.agents]

    def derived(self, agent: AgentConfig) -> dict[str, Any]:
        """The settings agent's service derives from the config (common.launcher.services)."""
        state_dir = Path(self.base_dir, self.config.global_.log_dir)
        launchers = {host: self.launcher_endpoint(host) for host in self.config.hosts}
        return derived_settings(self.config, agent, self.endpoint, state_dir, launchers)

    def log_path(self, name: str) -> str:
        return str(Path(self.base_dir, self.config.global_.log_dir, self.host, f"{name}.log"))

    def spec(self, agent: AgentConfig) -> AgentSpec:
        """What the fork server's child needs to become agent (common.spawn.child)."""
        g = self.config.global_
        legacy = script_fields(self.base_dir, agent, [expand(a, self.expansions(agent))
                                                       for a in agent.args]) \
            if agent.script_path else {}
        return AgentSpec(
            name=agent.name, module=agent.module,
            endpoint=self.endpoint(agent), host=self.address(agent),
            registry=None if agent.service == "registry" else self.registry_endpoint,
            settings={**self.derived(agent), **agent.settings}, ports=dict(agent.ports),
            heartbeat_interval_s=g.heartbeat_interval_s, env=self.environment(agent),
            log_path=self.log_path(agent.name), log_level=self.log_level,
            log_max_bytes=g.log_rotation.max_bytes, log_backups=g.log_rotation.backups,
            **{"cwd": self.base_dir, **legacy},
            hub_endpoints=() if agent.service == "hub" else tuple(self.hub_endpoints),
            secrets={name: ref.optional for name, ref in agent.secrets.items()})

    @property
    def preload(self) -> list[str]:
        """Every agent module of this host: imported once in the fork server (torch too)."""
        return sorted({a.module.partition(":")[0] for a in self.agents.values() if a.module})

    def expansions(self, agent: AgentConfig) -> dict[str, str]:
        """What ``${...}`` in agent's env and args stands for (common.config.legacy_env)."""
        return expansion_values(agent.port, agent.health_port, self.config.global_.port_offset,
                                agent.ports, self.address(agent))

    def environment(self, agent: AgentConfig) -> dict[str, str]:
        env = dict(self.config.hosts[agent.host].env)
        values = self.expansions(agent)
        env.update({key: expand(value, values) for key, value in agent.env.items()})
        env.update({"MESH_AGENT_NAME": agent.name, "MESH_AGENT_PORT": str(agent.port),
                    "MESH_HOST": agent.host})
        if agent.health_port is not None:
            env["MESH_HEALTH_PORT"] = str(agent.health_port)
        if self.registry_endpoint:
            env["MESH_REGISTRY"] = self.registry_endpoint
        for service in ("registry", "model_manager"):  # the hubs come as hub_endpoints
            providers = self.config.providers(service)
            if providers:
                env[service_variable(service)] = providers[0].name
        for name, ref in agent.secrets.items():
            value = self.secret(agent.name, name, ref)
            if value is not None:
                env[name] = value
        return env

    def secret(self, agent: str, name: str, ref: SecretRef) -> str | None:
        """The value of agent's secret name; None if an optional one is missing.
        SecretError, naming agent, secret and source, if a required one is missing."""
        try:
            return self._read(ref)
        except SecretError as exc:
            if not ref.optional:
                raise SecretError(f"agents.{agent}.secrets.{name}: {exc}") from None
            log.info("%s: optional secret %s not delivered (%s); the agent runs without it",
                     agent, name, exc)
            return None

    def missing_paths(self) -> list[str]:
        """Scripts, interpreters, working folders of this host's legacy agents not there."""
        return missing_paths(self.base_dir, list(self.agents.values()))

    def missing_secrets(self) -> list[str]:
        """Every required secret of this host's agents that cannot be read, as messages."""
        problems = []
        for agent in self.agents.values():
            for name, ref in agent.secrets.items():
                try:
                    self.secret(agent.name, name, ref)
                except SecretError as exc:
                    problems.append(str(exc))
        return problems

    def secret_variables(self) -> set[str]:
        """Names the fork server must not inherit: every secret the config declares (on any
        host: one machine may run both launchers), and the launcher variables they are read
        from.  Each agent gets only its own, in its spec."""
        names: set[str] = set()
        for agent in self.config.agents:
            names.update(agent.secrets)
            names.update(ref.env for ref in agent.secrets.values() if ref.env is not None)
        return names

    def _read(self, ref: SecretRef) -> str:
        if ref.env is not None:
            value = os.environ.get(ref.env)
            if value is None:
                raise SecretError(f"environment variable {ref.env} is not set for the launcher")
            source = f"environment variable {ref.env}"
        else:
            try:
                value = Path(self.base_dir, ref.file or "").read_text().strip()
            except OSError as exc:
                raise SecretError(f"cannot read file {ref.file}: {exc.strerror}") from None
            source = f"file {ref.file}"
        if not value.strip():
            raise SecretError(f"{source} is empty")
        return value
