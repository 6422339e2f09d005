"""Typed agent settings: each agent class declares its ``settings:`` as a pydantic model.

    class Relay(MeshAgent):
        class Settings(MeshAgent.Settings):
            target: str = "Store"

A subclass's model extends its parent's.  Unknown keys are refused (a typo is an error, not a
silently ignored setting) and types are strict, as in the rest of the startup config.
``mesh config check`` validates every agent's ``settings:`` against its class's model, and
BaseAgent validates what it is given at construction, raising `SettingsError` naming each bad
field.  Keep these models free of heavy imports (torch): the config check imports them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["AgentSettings", "SettingsError", "SettingsProblem", "parse_settings", "problems"]

S = TypeVar("S", bound="AgentSettings")
SettingsProblem = tuple[tuple[str | int, ...], str, Any]  # (location, message, bad value)


class AgentSettings(BaseModel):
    """The settings every agent takes: none.  Subclass per agent class, defaults included."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SettingsError(ValueError):
    """An agent was given settings its class's model refuses; names every bad field."""

    def __init__(self, agent: str, found: list[SettingsProblem]) -> None:
        self.problems = found
        lines = [f"settings.{_dotted(loc)}: {message}" for loc, message, _ in found]
        super().__init__(f"{agent}: bad settings: " + "; ".join(lines))


def parse_settings(model: type[S], agent: str,
                   data: AgentSettings | Mapping[str, Any] | None) -> S:
    """data (a mapping, or already a model instance) validated into model; SettingsError if
    it does not fit."""
    if isinstance(data, model):
        return data
    if isinstance(data, AgentSettings):
        data = data.model_dump()
    try:
        return model.model_validate(dict(data or {}))
    except ValidationError as exc:
        raise SettingsError(agent, problems(model, exc)) from None


def problems(model: type[AgentSettings], exc: ValidationError) -> list[SettingsProblem]:
    """One (location, plain message, bad value) per error of validating model."""
    found = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part != "[key]")
        if error["type"] == "extra_forbidden":
            message = _unknown(model, loc)
        elif error["type"] == "missing":
            message = "missing required setting"
        else:
            message = error["msg"].removeprefix("Value error, ")
        found.append((loc, message, error.get("input")))
    return found


def _unknown(model: type[AgentSettings], loc: tuple[str | int, ...]) -> str:
    """``unknown setting; did you mean 'threshold'?`` for a top-level key of model."""
    if len(loc) != 1:
        return "unknown key"
    allowed = sorted(model.model_fields)
    close = difflib.get_close_matches(str(loc[0]), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown setting; did you mean {close[0]!r}?"
    if not allowed:
        return f"unknown setting; {model.__qualname__} takes none"
    return f"unknown setting; allowed: {', '.join(allowed)}"


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")
