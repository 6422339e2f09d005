"""The one schema of ``startup_config.yaml`` (version 1), as strict pydantic models.

Unknown keys are rejected at every level, types are strict (``"yes"`` is not a bool, ``"7150"``
is not a port), and every port is resolved to an int while validating: port fields accept an int
or ``${PORT_OFFSET}+N`` and hold an int afterwards. The offset comes from the validation context
``{"port_offset": N}``; `MeshConfig.model_validate` fills it from ``global.port_offset`` itself.

This module holds the document and ``global:``; ``hosts:`` and ``agents:`` are in
`common.config.host_schema` and `common.config.agent_schema`, the other sections in their own
modules. These models check the shape of each part. Checks across parts (dependencies, cycles, port
collisions, secrets written as values) live in `common.config.checks`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import ConfigDict, Field

from common.config.agent_schema import AgentConfig, HealthProbe
from common.config.anomaly import AnomalyConfig
from common.config.backup import BackupConfig
from common.config.base import ConfigModel as _Model
from common.config.expressions import PORT_MAX
from common.config.external import ExternalService
from common.config.failover import FailoverTimings
from common.config.fields import HostName, Text
from common.config.history import AlertmanagerConfig, EventsConfig
from common.config.host_schema import LAUNCHER_PORT_BASE, HostConfig
from common.config.registry import RegistryConfig
from common.config.slos import SlosConfig

__all__ = ["GlobalSettings", "LogRotation", "MeshConfig", "peek_port_offset"]


class LogRotation(_Model):
    """Size-based rotation of each agent's log file."""

    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    backups: int = Field(default=5, ge=0)


class GlobalSettings(_Model):
    """Mesh-wide settings (``global:``)."""

    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=5.0, gt=0, description="default request timeout")
    stop_timeout_s: float = Field(default=10.0, gt=0, description="SIGTERM to SIGKILL bound")
    log_dir: Text = "logs"
    log_rotation: LogRotation = LogRotation()
    health: HealthProbe = HealthProbe()
    port_offset: int = Field(default=0, ge=0, le=PORT_MAX)
    security: Literal["plain", "curve"] = Field(
        default="plain", description="curve: every tcp socket encrypted and authenticated")
    keys_dir: Text = Field(default="keys", description="`mesh keys init` output (curve mode)")


class MeshConfig(_Model):
    """A whole startup config: hosts and their agents, resolved (ports are ints)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True,
                              validate_by_name=True, validate_by_alias=True)

    version: Literal[1]
    global_: GlobalSettings = Field(default=GlobalSettings(), alias="global")
    hosts: dict[HostName, HostConfig] = Field(min_length=1)
    agents: list[AgentConfig] = Field(default_factory=list)
    services: list[ExternalService] = Field(default_factory=list)  # not agents: Redis, ...
    slos: SlosConfig = SlosConfig()
    events: EventsConfig = EventsConfig()  # the hubs' incident history (common.config.history)
    alertmanager: AlertmanagerConfig | None = None  # where the hubs send alerts; None: nowhere
    anomaly: AnomalyConfig = AnomalyConfig()  # the hubs' series and anomaly detector
    registry: RegistryConfig = RegistryConfig()  # sqlite (embedded) or etcd: common.config.registry
    failover: FailoverTimings = FailoverTimings()  # host loss, fencing, shipping: .failover
    backup: BackupConfig = BackupConfig()  # scheduled backups: common.config.backup

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> MeshConfig:  # type: ignore[override]
        """Validate the shape only; ports are resolved with the document's own port_offset
        unless a context gives one. Use `parse_config` for the full semantic check."""
        if kwargs.get("context") is None:
            kwargs["context"] = {"port_offset": peek_port_offset(obj)}
        return super().model_validate(obj, **kwargs)

    def agent(self, name: str) -> AgentConfig:
        """The agent called `name`; KeyError if there is none."""
        for agent in self.agents:
            if agent.name == name:
                return agent
        raise KeyError(name)

    def agents_on(self, host: str) -> list[AgentConfig]:
        return [agent for agent in self.agents if agent.host == host]

    def providers(self, service: str) -> list[AgentConfig]:
        """The agents that provide service (``service:``), in document order."""
        agents, index = self._providers
        if agents is not self.agents:  # a model_copy with other agents carried our index
            del self.__dict__["_providers"]
            agents, index = self._providers
        return list(index.get(service, ()))

    @cached_property
    def _providers(self) -> tuple[list[AgentConfig], dict[str, list[AgentConfig]]]:
        """Every service's providers, found once (the model is frozen): a launcher asks for
        each agent it starts, and scanning every agent each time was a third of its CPU
        while it started 500."""
        index: dict[str, list[AgentConfig]] = {}
        for agent in self.agents:
            if agent.service is not None:
                index.setdefault(agent.service, []).append(agent)
        return self.agents, index

    def launcher_port(self, host: str) -> int:
        """The tcp port of host's launcher: its ``launcher_port``, else the default for its
        position under ``hosts:`` (a config validated without the loader)."""
        port = self.hosts[host].launcher_port
        if port is not None:
            return port
        return self.global_.port_offset + LAUNCHER_PORT_BASE + list(self.hosts).index(host)

    def has_role(self, host: str, role: str) -> bool:
        return role in self.hosts[host].roles

    def to_data(self) -> dict[str, Any]:
        """Plain data as written in YAML (``global`` key, defaults filled, ports as ints)."""
        return self.model_dump(mode="json", by_alias=True)


def peek_port_offset(data: Any) -> int:
    """``global.port_offset`` of raw config data if it is a valid int, else 0."""
    settings = data.get("global") if isinstance(data, dict) else None
    offset = settings.get("port_offset", 0) if isinstance(settings, dict) else 0
    valid = isinstance(offset, int) and not isinstance(offset, bool) and 0 <= offset <= PORT_MAX
    return offset if valid else 0
