"""Turn pydantic's validation errors into `ConfigIssue`s with field paths and plain messages."""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from common.config.issues import NO_VALUE, REDACTED, ConfigIssue, format_path, looks_secret

__all__ = ["allowed_keys", "issues_from_validation_error", "unknown_key_message"]

_PREFIXES = ("Value error, ", "Assertion failed, ")


def issues_from_validation_error(
    exc: ValidationError, base: str, model: type[BaseModel]
) -> list[ConfigIssue]:
    """One issue per pydantic error of validating `model` at field path `base`."""
    return [_issue(error, base, model) for error in exc.errors()]


def _issue(error: Any, base: str, model: type[BaseModel]) -> ConfigIssue:
    loc = [part for part in error["loc"] if part != "[key]"]
    path = format_path(loc, base)
    kind = error["type"]
    if kind == "missing":
        return ConfigIssue(path, "missing required key")
    if kind == "extra_forbidden":
        message = unknown_key_message(str(loc[-1]), allowed_keys(model, loc[:-1]))
    else:
        message = _plain(error["msg"])
        if "[key]" in error["loc"]:
            message = f"bad key: {message}"
    value = error.get("input", NO_VALUE)
    if isinstance(value, dict) and kind != "extra_forbidden":
        value = NO_VALUE  # a whole mapping: the path says which one
    if _is_secret_location(loc):
        value = REDACTED
    return ConfigIssue(path, message, value)


def unknown_key_message(key: str, allowed: Sequence[str]) -> str:
    """``unknown key 'prot'; did you mean 'port'?`` or the list of the keys allowed there."""
    if not allowed:
        return f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    return f"unknown key {key!r}; allowed here: {', '.join(allowed)}"


def allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the model nested at `loc` inside `model` accepts (empty if not a model)."""
    target: Any = model
    for part in loc:
        target = _step(target, part)
        if target is None:
            return []
    target = _unwrap(target)
    if not (isinstance(target, type) and issubclass(target, BaseModel)):
        return []
    return [info.alias or name for name, info in target.model_fields.items()]


def _step(target: Any, part: str | int) -> Any:
    target = _unwrap(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        for name, info in target.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
        return None
    origin = get_origin(target)
    if origin is dict:
        return get_args(target)[1]
    if origin is list:
        return get_args(target)[0]
    return None


def _unwrap(target: Any) -> Any:
    """Strip Annotated[...] and Optional[...] down to the one meaningful type."""
    while True:
        origin = get_origin(target)
        if origin is Annotated:
            target = get_args(target)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(target) if arg is not type(None)]
            if len(options) != 1:
                return target
            target = options[0]
        else:
            return target


def _plain(message: str) -> str:
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _is_secret_location(loc: Sequence[str | int]) -> bool:
    return "secrets" in loc or any(isinstance(part, str) and looks_secret(part) for part in loc)
