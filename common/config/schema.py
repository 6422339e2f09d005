"""The one schema of ``startup_config.yaml`` (version 1), as strict pydantic models.

Unknown keys are rejected at every level, types are strict (``"yes"`` is not a bool, ``"7150"``
is not a port), and every port is resolved to an int while validating: port fields accept an int
or ``${PORT_OFFSET}+N`` and hold an int afterwards. The offset comes from the validation context
``{"port_offset": N}``; `MeshConfig.model_validate` fills it from ``global.port_offset`` itself.

These models check the shape of each part. Checks across parts (dependencies, cycles, port
collisions, secrets written as values) live in `common.config.checks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from common.config.anomaly import AnomalyConfig
from common.config.backup import BackupConfig
from common.config.base import ConfigModel as _Model
from common.config.expressions import PORT_MAX
from common.config.external import ExternalService
from common.config.failover import AgentFailover, FailoverTimings
from common.config.fields import (
    AgentName,
    EnvName,
    HostName,
    IpAddress,
    ModuleRef,
    Port,
    PortKey,
    Text,
)
from common.config.history import AlertmanagerConfig, EventsConfig
from common.config.legacy_env import unknown_expansions
from common.config.registry import RegistryConfig
from common.config.slos import SloObjective, SlosConfig

__all__ = [
    "AgentConfig",
    "AgentHealth",
    "DEFAULT_HEALTHY",
    "ExternalService",
    "GlobalSettings",
    "GpuConfig",
    "GpuDevice",
    "HealthProbe",
    "HostConfig",
    "HostRole",
    "LAUNCHER_PORT_BASE",
    "LogRotation",
    "MeshConfig",
    "Resources",
    "RestartPolicy",
    "SecretRef",
    "SERVICE_ROLES",
    "SloObjective",
    "SlosConfig",
    "SINGLETON_ROLES",
    "Service",
    "default_launcher_port",
    "peek_port_offset",
]

LAUNCHER_PORT_BASE = 7300  # + the host's position under hosts:, + global.port_offset
HostRole = Literal["registry", "registry_replica", "hub_central", "hub_edge", "model_manager"]
SINGLETON_ROLES: tuple[str, ...] = ("registry", "registry_replica", "hub_central", "model_manager")
Service = Literal["registry", "hub", "model_manager"]
# Which host roles let an agent provide a service: the role of its host decides, e.g., whether
# a hub is the central or the edge one.
SERVICE_ROLES: dict[str, tuple[str, ...]] = {
    "registry": ("registry", "registry_replica"),  # the replica: service_registry.replica
    "hub": ("hub_central", "hub_edge"),
    "model_manager": ("model_manager",),
}


class LogRotation(_Model):
    """Size-based rotation of each agent's log file."""

    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    backups: int = Field(default=5, ge=0)


class HealthProbe(_Model):
    """How the launcher probes an agent's health: readiness within start_period_s, then liveness."""

    interval_s: float = Field(default=5.0, gt=0)
    timeout_s: float = Field(default=2.0, gt=0)
    retries: int = Field(default=3, ge=1)
    start_period_s: float = Field(default=30.0, ge=0)


DEFAULT_HEALTHY = ("ok", "ready", "healthy")


class AgentHealth(_Model):
    """An agent's own ``health:``: any of the global probe timings overridden, which statuses
    of a legacy script's ``health_check`` reply count as healthy (case-insensitive), and which
    of its declared ports (``port``, ``health_port``, a ``ports:`` name) must also accept a TCP
    connection before it is ready (a script whose constructor binds its main port late)."""

    interval_s: float | None = Field(default=None, gt=0)
    timeout_s: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=1)
    start_period_s: float | None = Field(default=None, ge=0)
    healthy: list[Text] = Field(default_factory=lambda: list(DEFAULT_HEALTHY), min_length=1)
    ports: list[Text] = Field(default_factory=list)

    def over(self, probe: HealthProbe) -> HealthProbe:
        """The global probe with this agent's timings written over it."""
        own = {k: v for k, v in self.model_dump(include=set(HealthProbe.model_fields)).items()
               if v is not None}
        return probe.model_copy(update=own)


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


class GpuDevice(_Model):
    name: Text
    vram_mb: int = Field(gt=0)


class GpuConfig(_Model):
    backend: Literal["nvml", "simulated", "auto"] = "auto"
    devices: list[GpuDevice] = Field(default_factory=list)
    warm_ram_mb: int = Field(default=0, ge=0, description=(
        "host RAM the VRAM pool may fill with evicted models' weights (the warm tier: they "
        "come back from RAM, not disk); 0: no warm tier on this host"))

    @model_validator(mode="after")
    def _simulated_needs_devices(self) -> GpuConfig:
        if self.backend == "simulated" and not self.devices:
            raise ValueError("the simulated backend needs its devices listed (name, vram_mb)")
        return self


def default_launcher_port(position: int) -> str:
    """``hosts.<h>.launcher_port`` when not written: ``${PORT_OFFSET}+7300`` for the first
    host under ``hosts:``, +7301 for the second, and so on (one port space for the mesh)."""
    return f"${{PORT_OFFSET}}+{LAUNCHER_PORT_BASE + position}"


class HostConfig(_Model):
    """One machine. `env` applies to every agent on it; `reserved_ports` are ports used on the
    host by something that is not an agent (they take part in the collision check).
    `launcher_port`: the tcp port of the host's launcher (control requests from either host:
    `mesh status`, `down`, `restart`, `logs`, `migrate`); see `default_launcher_port`."""

    address: IpAddress
    launcher_port: Port | None = None
    gpu: GpuConfig | None = None
    roles: list[HostRole] = Field(default_factory=list)
    env: dict[EnvName, str] = Field(default_factory=dict)
    reserved_ports: dict[PortKey, Port] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_launcher_port(cls, data: Any, info: ValidationInfo) -> Any:
        """The loader says where the host stands under ``hosts:`` (context ``host_index``)."""
        context = info.context if isinstance(info.context, dict) else {}
        if isinstance(data, dict) and data.get("launcher_port") is None \
                and "host_index" in context:
            data = {**data, "launcher_port": default_launcher_port(context["host_index"])}
        return data

    @model_validator(mode="after")
    def _roles_unique(self) -> HostConfig:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError(f"roles listed twice: {self.roles}")
        return self


class RestartPolicy(_Model):
    policy: Literal["always", "on-failure", "never"] = "always"
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    stable_s: float = Field(default=60.0, gt=0, description=(
        "a start that stays up this long is stable; crash_loop_starts starts in a row that "
        "did not are a crash loop, whatever their exit codes"))
    crash_loop_starts: int = Field(default=5, ge=2)

    @model_validator(mode="after")
    def _ordered(self) -> RestartPolicy:
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(f"backoff_initial_s ({self.backoff_initial_s}) is above "
                             f"backoff_max_s ({self.backoff_max_s})")
        return self


class SecretRef(_Model):
    """Where a secret comes from: an environment variable of the launcher, or a file.

    A required secret that cannot be read stops ``mesh up`` before anything starts. An
    ``optional`` one that is missing is not delivered: the agent runs with that feature off
    and its health says so.
    """

    env: EnvName | None = None
    file: Text | None = None
    optional: bool = False

    @model_validator(mode="before")
    @classmethod
    def _never_inline(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("secret values are never written in the config; "
                             "use {env: VARIABLE} or {file: PATH}")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self


class Resources(_Model):
    vram_mb: int = Field(default=0, ge=0)
    memory_mb: int | None = Field(default=None, gt=0)
    cpu_percent: int | None = Field(default=None, gt=0)
    max_threads: int | None = Field(default=None, gt=0)


class AgentConfig(_Model):
    """One agent process: a BaseAgent class (`module`) or an unmigrated script (`script_path`).

    ``service`` marks the agent that provides one of the mesh's own services on its host (the
    registry, a hub, the VRAM pool); its host's ``roles`` must include that service's role, and
    the host plan derives what the service needs from the rest of the config."""

    name: AgentName
    host: HostName
    service: Service | None = None
    module: ModuleRef | None = None
    script_path: Text | None = None
    python: Text | None = None  # script_path only: an interpreter, or a venv folder
    cwd: Text | None = None  # script_path only: its working directory
    args: list[str] = Field(default_factory=list)  # script_path only: argv after the script
    port: Port
    health_port: Port | None = None
    ports: dict[PortKey, Port] = Field(default_factory=dict)
    dependencies: list[str] = Field(default_factory=list)
    required: bool = True
    restart: RestartPolicy = RestartPolicy()
    env: dict[EnvName, str] = Field(default_factory=dict)
    secrets: dict[EnvName, SecretRef] = Field(default_factory=dict)
    resources: Resources = Resources()
    settings: dict[str, Any] = Field(default_factory=dict)
    group: str | None = None
    health: AgentHealth | None = None
    failover: AgentFailover | None = None  # run on another host when its own is gone

    @model_validator(mode="after")
    def _one_entry_point(self) -> AgentConfig:
        if (self.module is None) == (self.script_path is None):
            raise ValueError("give exactly one of module ('package.module:Class') "
                             "or script_path (a legacy script)")
        if self.module is not None:
            written = [f for f in ("python", "cwd", "args") if getattr(self, f)]
            if written:
                raise ValueError(f"{', '.join(written)}: only for a script_path agent "
                                 "(a module agent runs in the mesh's own interpreter)")
        return self

    @model_validator(mode="after")
    def _known_expansions(self) -> AgentConfig:
        known = ["PORT", "PORT_OFFSET", "HOST_ADDRESS", *(f"ports.{k}" for k in self.ports)]
        if self.health_port is not None:
            known.append("HEALTH_PORT")
        texts = [(f"env.{k}", v) for k, v in self.env.items()]
        texts += [(f"args[{i}]", v) for i, v in enumerate(self.args)]
        for where, text in texts:
            unknown = unknown_expansions(text, known)
            if unknown:
                raise ValueError(f"{where}: unknown expansion ${{{unknown[0]}}}; known: "
                                 + ", ".join(f"${{{k}}}" for k in known))
        return self

    @model_validator(mode="after")
    def _health_ports_declared(self) -> AgentConfig:
        declared = {path for path, _ in self.declared_ports()}
        for name in self.health.ports if self.health else ():
            key = name if name in ("port", "health_port") else f"ports.{name}"
            if key not in declared:
                raise ValueError(f"health.ports: {name!r} is not a port of this agent; "
                                 f"declared: {', '.join(sorted(declared))}")
        return self

    def health_port_numbers(self) -> dict[str, int]:
        """``health.ports`` as name -> port number."""
        declared = dict(self.declared_ports())
        return {name: declared[name if name in ("port", "health_port") else f"ports.{name}"]
                for name in (self.health.ports if self.health else ())}

    def declared_ports(self) -> Iterator[tuple[str, int]]:
        """Every port this agent binds, as (field path relative to the agent, port)."""
        yield "port", self.port
        if self.health_port is not None:
            yield "health_port", self.health_port
        for key, port in self.ports.items():
            yield f"ports.{key}", port


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
        return [agent for agent in self.agents if agent.service == service]

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
