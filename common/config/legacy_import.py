"""``mesh config import-legacy``: the original's two startup files as one version-1 config.

The two files are read as the loader reads them (common.config.legacy, legacy_merge): one
``script_path:`` entry per script, its hidden HTTP port declared as ``ports.legacy_http``.
Their known defects are then fixed, each fix written as a ``# NAME: FIX: ...`` comment above
the entry it changes (as ``startup_config.yaml`` does), so that ``mesh config check`` accepts
the result:

- a dependency cycle loses the dependency that closes it (the one listed last on the way);
- an agent port that another claims first (a host's reserved or launcher port, another
  agent's port) moves to the next free number;
- a hidden HTTP port (health_port + 1) that is another agent's port moves with its health
  port to the next free pair; the script must then be told its new port (``env:`` or
  ``args:`` with ``${HEALTH_PORT}``), which the comment says;
- host ``env:`` values written with shell expansions (``${PWD}``) are kept and flagged: the
  launcher passes them literally.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.config.expressions import resolve_port
from common.config.graph import find_cycles
from common.config.issues import ConfigError, ConfigIssue
from common.config.legacy import detect_schema, read_legacy
from common.config.legacy_merge import combine_legacy
from common.config.loader import validate_data
from common.config.reader import read_yaml

__all__ = ["Imported", "import_legacy"]

HIDDEN = "legacy_http"
LEGACY_ORDER = ("main_pc", "pc2")  # hosts in this order, whatever the order of the files
SHELL_EXPANSION = re.compile(r"\$\{?[A-Za-z_]")


@dataclass
class Imported:
    """The written config's text and the fixes made, as (where, what) pairs."""

    text: str
    fixes: list[tuple[str, str]] = field(default_factory=list)


def import_legacy(paths: Sequence[str | Path], root: str | None = None) -> Imported:
    """The original's files (MainPC's and PC2's, or one of them) as a checked version-1
    config; ConfigError with every issue that is not a known defect.  root: the original's
    checkout, written as each script's ``cwd:``."""
    data = _combined(paths)
    fixes: list[tuple[str, str]] = []
    fixes += _break_cycles(data["agents"])
    fixes += _separate_ports(data)
    fixes += _flag_shell_env(data["hosts"])
    if root is not None:
        for agent in data["agents"]:
            agent["cwd"] = root
    _, issues = validate_data(data)
    if issues:
        raise ConfigError(issues)
    return Imported(_render(data, fixes), fixes)


def _combined(paths: Sequence[str | Path]) -> dict[str, Any]:
    files, issues = [], []
    for path in paths:
        raw, read_issues = read_yaml(path)
        kind = detect_schema(raw)
        if read_issues or kind not in LEGACY_ORDER:
            issues.extend(read_issues or [ConfigIssue("", "not one of the original's two "
                                                      "startup files", source=str(path))])
            continue
        files.append(read_legacy(raw, kind, str(path)))
    issues.extend(issue for legacy in files for issue in legacy.issues)
    if issues:
        raise ConfigError(issues)
    data, _ = combine_legacy(sorted(files, key=lambda f: LEGACY_ORDER.index(f.host)))
    return data


def _break_cycles(agents: list[dict[str, Any]]) -> list[tuple[str, str]]:
    fixes = []
    by_name = {a["name"]: a for a in agents}
    while cycles := find_cycles({a["name"]: list(a.get("dependencies", [])) for a in agents}):
        cycle = cycles[0]
        last, back = cycle[-2], cycle[-1]
        by_name[last]["dependencies"].remove(back)
        fixes.append((last, f"no longer depends on {back}: that closed the dependency cycle "
                            f"{' -> '.join(cycle)}"))
    return fixes


def _number(value: Any) -> int:
    return resolve_port(value, 0)


def _expr(port: int) -> str:
    return f"${{PORT_OFFSET}}+{port}"


def _claims(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, int]]:
    """Agents' ports and health ports first, hidden HTTP ports last (those are what moves)."""
    for agent in data["agents"]:
        for key in ("port", "health_port"):
            if agent.get(key) is not None:
                yield agent, key, _number(agent[key])
    for agent in data["agents"]:
        for key, value in agent.get("ports", {}).items():
            yield agent, f"ports.{key}", _number(value)


def _separate_ports(data: dict[str, Any]) -> list[tuple[str, str]]:
    taken = Counter(port for _, _, port in _claims(data))
    held: set[int] = set()
    for index, host in enumerate(data["hosts"].values()):
        held.add(7300 + index if host.get("launcher_port") is None
                 else _number(host["launcher_port"]))
        held.update(_number(p) for p in host.get("reserved_ports", {}).values())
    taken.update(held)
    fixes = []
    for agent, key, port in list(_claims(data)):
        if port not in held:
            held.add(port)
            continue
        fixes.append((agent["name"], _move(agent, key, port, taken, held)))
    return fixes


def _free(taken: Counter, start: int, width: int) -> int:
    port = start
    while any(taken[port + i] for i in range(width)):
        port += 1
    return port


def _move(agent: dict[str, Any], key: str, port: int, taken: Counter, held: set[int]) -> str:
    if key == f"ports.{HIDDEN}" and agent.get("health_port") is not None:
        old = _number(agent["health_port"])
        new = _free(taken, old + 2, 2)
        taken.update([new, new + 1])
        held.update([new, new + 1])
        agent["health_port"], agent["ports"][HIDDEN] = _expr(new), _expr(new + 1)
        return (f"health_port {old} -> {new}: its hidden HTTP port {port} (health_port + 1) "
                f"is another agent's port; give the script its new health port "
                f"(env: or args: with ${{HEALTH_PORT}})")
    new = _free(taken, port + 1, 1)
    taken.update([new])
    held.add(new)
    if key.startswith("ports."):
        agent["ports"][key.partition(".")[2]] = _expr(new)
    else:
        agent[key] = _expr(new)
    return (f"{key} {port} -> {new}: {port} is taken by another port of the mesh; give the "
            f"script its new port (env: or args: with ${{{key.upper().replace('.', '_')}}})"
            if key in ("port", "health_port") else
            f"{key} {port} -> {new}: {port} is taken by another port of the mesh")


def _flag_shell_env(hosts: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f"hosts.{name}", f"env.{key} is {value!r}: the launcher passes it as written, "
                              "without shell expansion")
            for name, host in hosts.items() for key, value in host.get("env", {}).items()
            if SHELL_EXPANSION.search(str(value))]


def _render(data: dict[str, Any], fixes: list[tuple[str, str]]) -> str:
    notes: dict[str, list[str]] = {}
    for where, what in fixes:
        notes.setdefault(where, []).append(what)
    head = {k: v for k, v in data.items() if k != "agents"}
    lines = ["# Imported from the original's startup files by `mesh config import-legacy`.",
             "# Each script runs as is (script_path:); FIX comments name what was changed.",
             *[f"# {where}: FIX: {what}" for where, what in fixes if where.startswith("hosts.")],
             yaml.safe_dump(head, sort_keys=False).rstrip(), "agents:"]
    for agent in data["agents"]:
        lines += [f"  # {agent['name']}: FIX: {what}" for what in notes.get(agent["name"], [])]
        ordered = {"name": agent["name"], "host": agent["host"], **agent}
        entry = yaml.safe_dump([ordered], sort_keys=False).rstrip()
        lines += [f"  {line}" for line in entry.splitlines()]
    return "\n".join(lines) + "\n"
