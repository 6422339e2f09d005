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
main_pc.ServiceRegistry``).  `load_change` raises `ConfigError`; nothing is touched before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.config import ConfigError, ConfigIssue, MeshConfig
from common.config.fields import AgentName, EnvName, HostName, ModuleRef
from common.config.reader import read_yaml
from common.config.validation import issues_from_validation_error

__all__ = ["AgentChange", "ChangeFile", "Gates", "Probe", "load_change", "parse_change"]

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


def load_change(path: str | Path, config: MeshConfig) -> ChangeFile:
    """Read, validate and check a change file against the config; ConfigError lists all issues."""
    data, issues = read_yaml(path)
    if issues:
        raise ConfigError(issues)
    return parse_change(data, config, source=str(path))


def parse_change(data: Any, config: MeshConfig, source: str | None = None) -> ChangeFile:
    issues: list[ConfigIssue] = []
    try:
        change = ChangeFile.model_validate(data)
        valid = list(enumerate(change.changes))
    except ValidationError as exc:
        issues = issues_from_validation_error(exc, "", ChangeFile)
        valid = _valid_items(data)
    issues.extend(check_against(valid, config))
    if issues:
        raise ConfigError([_with_source(i, source) for i in issues])
    return change


def _valid_items(data: Any) -> list[tuple[int, AgentChange]]:
    """The changes that validate on their own, so their semantic issues are reported too."""
    items = data.get("changes") if isinstance(data, dict) else None
    valid = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        try:
            valid.append((i, AgentChange.model_validate(item)))
        except ValidationError:
            continue
    return valid


def _with_source(issue: ConfigIssue, source: str | None) -> ConfigIssue:
    return ConfigIssue(issue.path, issue.message, issue.value, source)


def _port_owners(config: MeshConfig) -> dict[int, str]:
    owners = {}
    for agent in config.agents:
        for _, port in agent.declared_ports():
            owners[port] = f"{agent.host}.{agent.name}"
    for host_name, host in config.hosts.items():
        for key, port in host.reserved_ports.items():
            owners[port] = f"{host_name}.reserved_ports.{key}"
    return owners


def check_against(changes: list[tuple[int, AgentChange]],
                  config: MeshConfig) -> list[ConfigIssue]:
    """Checks that need the startup config: agents, hosts, ports, duplicates."""
    issues: list[ConfigIssue] = []
    names = {a.name: a for a in config.agents}
    owners = _port_owners(config)
    seen: dict[str, int] = {}
    for i, c in changes:
        at = f"changes[{i}]"
        if c.agent not in names:
            close = sorted(n for n in names if n.lower() == c.agent.lower())
            hint = f"; did you mean {close[0]!r}?" if close else ""
            issues.append(ConfigIssue(f"{at}.agent", f"no such agent in the config{hint}",
                                      c.agent))
            continue
        if c.agent in seen:
            issues.append(ConfigIssue(f"{at}.agent",
                                      f"changed twice (also changes[{seen[c.agent]}])", c.agent))
        seen[c.agent] = i
        if c.host is not None and c.host not in config.hosts:
            issues.append(ConfigIssue(f"{at}.host", "no such host; hosts are: "
                                      + ", ".join(config.hosts), c.host))
        owner = owners.get(c.port) if c.port is not None else None
        if owner is not None and owner != f"{names[c.agent].host}.{c.agent}":
            issues.append(ConfigIssue(f"{at}.port", f"already used by {owner}", c.port))
        if names[c.agent].script_path and c.module is None:
            issues.append(ConfigIssue(f"{at}.module", f"{c.agent} is a legacy script; give the "
                                      "BaseAgent module it moves to"))
    issues.extend(_port_reuse(changes))
    return issues


def _port_reuse(changes: list[tuple[int, AgentChange]]) -> list[ConfigIssue]:
    claimed: dict[int, int] = {}
    issues = []
    for i, c in changes:
        if c.port is None:
            continue
        if c.port in claimed:
            issues.append(ConfigIssue(f"changes[{i}].port",
                                      f"also claimed by changes[{claimed[c.port]}]", c.port))
        claimed[c.port] = i
    return issues
