"""``agents:`` of the startup config: one process each, a BaseAgent class or a legacy script,
with its ports, dependencies, restart policy, secrets, resources and health probe timings (see
`common.config.schema` for the whole document)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, model_validator

from common.config.base import ConfigModel as _Model
from common.config.failover import AgentFailover
from common.config.fields import AgentName, EnvName, HostName, ModuleRef, Port, PortKey, Text
from common.config.legacy_env import unknown_expansions

__all__ = ["AgentConfig", "AgentHealth", "DEFAULT_HEALTHY", "HealthProbe", "Resources",
           "RestartPolicy", "SERVICE_ROLES", "SecretRef", "Service"]

Service = Literal["registry", "hub", "model_manager"]
# Which host roles let an agent provide a service: the role of its host decides, e.g., whether
# a hub is the central or the edge one.
SERVICE_ROLES: dict[str, tuple[str, ...]] = {
    "registry": ("registry", "registry_replica"),  # the replica: service_registry.replica
    "hub": ("hub_central", "hub_edge"),
    "model_manager": ("model_manager",),
}


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
