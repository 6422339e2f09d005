"""The change file (YAML, version 1): which agents change and how, plus optional gates and bakes.

    version: 1
    description: new echo settings
    defaults: {bake_s: 30, strategy: auto, gates: {...}, probe: {...}}   # all optional
    changes:
      - agent: EchoA                 # an agent of the startup config
        module: pkg.mod:Class        # new code (also moves a legacy script_path agent to a module)
        version: "2.1"               # a label, given to the agent as MESH_AGENT_VERSION
        settings: {greeting: hi}     # merged over the current settings
        env: {LOG_LEVEL: DEBUG}      # merged over the current env
        host: pc2                    # move to the other host
        port: 7301                   # new port (blue/green picks a free one when absent)
        strategy: auto | blue_green | stop_and_replace
        bake_s: 2.0                  # overrides the bake of the agent's risk band
        gates: {error_rate_max: 0.05, latency_p95_ratio_max: 2.0, latency_floor_ms: 5,
                probe_failures_max: 3, ready_timeout_s: 30}
        probe: {action: echo, payload: {}, interval_s: 0.05, timeout_s: 1.0}

Validated like the startup config: unknown keys rejected, strict types, every problem reported
at once with its field path and value (``changes[1].port: 7200 is already used by
main_pc.ServiceRegistry``): the models are here, the checks against the startup config and the
agents' classes in migration.change_check (`load_change` raises `ConfigError`; nothing is
touched before).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.config.fields import AgentName, EnvName, HostName, ModuleRef

__all__ = ["AgentChange", "ChangeFile", "Gates", "Probe"]

Strategy = Literal["auto", "blue_green", "stop_and_replace"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Gates(_Model):
    error_rate_max: float | None = Field(default=None, ge=0, le=1)
    latency_p95_ratio_max: float | None = Field(default=None, gt=1)
    latency_floor_ms: float = Field(default=5.0, ge=0)
    probe_failures_max: int = Field(default=3, ge=1)
    ready_timeout_s: float = Field(default=30.0, gt=0)


class Probe(_Model):
    action: str = "health"
    payload: dict[str, Any] = Field(default_factory=dict)
    interval_s: float = Field(default=0.05, gt=0, le=60)
    timeout_s: float = Field(default=1.0, gt=0, le=60)


class Defaults(_Model):
    strategy: Strategy = "auto"
    bake_s: float | None = Field(default=None, ge=0)
    gates: Gates | None = None
    probe: Probe = Probe()


class AgentChange(_Model):
    agent: AgentName
    module: ModuleRef | None = None
    version: str | None = None
    settings: dict[str, Any] | None = None
    env: dict[EnvName, str] | None = None
    host: HostName | None = None
    port: int | None = Field(default=None, ge=1024, le=65535)
    strategy: Strategy | None = None
    bake_s: float | None = Field(default=None, ge=0)
    gates: Gates | None = None
    probe: Probe | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> AgentChange:
        fields = (self.module, self.version, self.settings, self.env, self.host, self.port)
        if all(f is None for f in fields):
            raise ValueError("a change must set at least one of module, version, settings, "
                             "env, host, port")
        return self

    def kinds(self) -> list[str]:
        """What kind of change this is, for the risk score: code, host, port, settings, env."""
        found = [("code", self.module or self.version), ("host", self.host),
                 ("port", self.port), ("settings", self.settings), ("env", self.env)]
        return [kind for kind, value in found if value is not None]

    def size(self) -> int:
        """Fields and keys changed."""
        return (sum(x is not None for x in (self.module, self.version, self.host, self.port))
                + len(self.settings or {}) + len(self.env or {}))


class ChangeFile(_Model):
    version: Literal[1]
    description: str = ""
    defaults: Defaults = Defaults()
    changes: list[AgentChange] = Field(min_length=1)
