"""Checks of each agent entry against its class: the module named by ``module:`` is imported,
its ``settings:`` validated by the class's settings model, its ``service:`` compared with the
service the class provides.

Opt-in (``validate_files(..., classes=True)``): `mesh config check` and `mesh up` run it; the
other commands only read the config and import no agent module.  Legacy ``script_path``
agents have no class and are skipped.  Keys the host plan derives for a service
(``DERIVED_SETTINGS``) are left to `common.config.checks`, which says what replaced them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import ValidationError

from common.base_agent.agent import BaseAgent
from common.base_agent.loader import load_agent_class
from common.base_agent.settings import problems
from common.config.agent_schema import AgentConfig
from common.config.checks import DERIVED_SETTINGS
from common.config.issues import NO_VALUE, REDACTED, ConfigIssue, format_path, looks_secret

__all__ = ["class_issues"]


def class_issues(agents: Sequence[tuple[int, AgentConfig]],
                 at: str = "agents") -> list[ConfigIssue]:
    """Every problem of the (index, agent) entries with their classes, paths under
    ``{at}[index]`` (a change file's entries: ``changes``)."""
    issues: list[ConfigIssue] = []
    for index, agent in agents:
        if agent.module is None:
            continue
        entry = f"{at}[{index}]"
        try:
            cls = load_agent_class(agent.module)
        except ValueError as exc:
            issues.append(ConfigIssue(f"{entry}.module", str(exc)))
            continue
        except Exception as exc:  # the module itself fails while importing
            module = agent.module.partition(":")[0]
            issues.append(ConfigIssue(f"{entry}.module",
                                      f"cannot import {module!r}: {type(exc).__name__}: {exc}"))
            continue
        issues.extend(_service(entry, agent, cls))
        issues.extend(_settings(entry, agent, cls))
    return issues


def _service(entry: str, agent: AgentConfig, cls: type[BaseAgent]) -> Iterator[ConfigIssue]:
    path = f"{entry}.service"
    value = NO_VALUE if agent.service is None else agent.service
    if cls.service is not None and agent.service != cls.service:
        yield ConfigIssue(path, f"{cls.__name__} provides the {cls.service} service; add "
                          f"service: {cls.service}", value)
    elif cls.service is None and agent.service is not None:
        yield ConfigIssue(path, f"{cls.__name__} does not provide the {agent.service} "
                          "service; remove service: or name the class that does", value)


def _settings(entry: str, agent: AgentConfig, cls: type[BaseAgent]) -> Iterator[ConfigIssue]:
    derived = DERIVED_SETTINGS.get(cls.service or "", {})
    data = {key: value for key, value in agent.settings.items() if key not in derived}
    try:
        cls.Settings.model_validate(data)
    except ValidationError as exc:
        for loc, message, value in problems(cls.Settings, exc):
            yield ConfigIssue(format_path(loc, f"{entry}.settings"), message,
                              _shown(loc, value))


def _shown(loc: tuple[str | int, ...], value: Any) -> Any:
    """The bad value as an issue shows it: never a secret's, nor a whole mapping."""
    if any(isinstance(part, str) and looks_secret(part) for part in loc):
        return REDACTED
    return NO_VALUE if isinstance(value, dict) else value
