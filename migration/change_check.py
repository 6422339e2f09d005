"""A change file checked before anything is touched: its schema (migration.change), then
against the startup config (agents, hosts, ports, duplicates) and against each changed agent's
class: the definition after the change must import and its merged settings validate, as
`mesh config check` asks of the config itself.  A setting the agent's kind does not take is
refused here, naming ``changes[i].settings.KEY``, instead of the new instance crashing on
start and the migration rolling back.  Every issue is reported at once (`ConfigError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.config import ConfigError, ConfigIssue, MeshConfig
from common.config.agent_classes import class_issues
from common.config.reader import read_yaml
from common.config.validation import issues_from_validation_error
from migration.change import AgentChange, ChangeFile
from migration.definitions import apply_change

__all__ = ["load_change", "parse_change"]


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
    if not issues:
        issues.extend(_class_issues(valid, config))
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


def _class_issues(changes: list[tuple[int, AgentChange]],
                  config: MeshConfig) -> list[ConfigIssue]:
    """Each changed agent's definition after the change, checked against its class (paths
    under the change's ``changes[i]``)."""
    names = {a.name: a for a in config.agents}
    after = [(i, apply_change(names[c.agent], c, names[c.agent].port)) for i, c in changes]
    return class_issues(after, at="changes")
