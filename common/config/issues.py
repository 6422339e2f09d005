"""Config errors as data: one `ConfigIssue` per problem, all of them raised together.

Every issue names a field path in the document (``agents[12].port``), says what is wrong and,
where there is one, shows the offending value. Values that may be secrets are never shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "NO_VALUE",
    "REDACTED",
    "format_path",
    "join_path",
    "looks_secret",
    "path_sort_key",
]

REDACTED = "***"
_MAX_VALUE_CHARS = 80
_TOP_ORDER = ("", "line", "version", "global", "hosts", "agents")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SECRET_WORDS = frozenset({"password", "passwd", "pwd", "secret", "token", "apikey", "credential",
                           "credentials", "privatekey"})
_SECRET_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key"), ("auth", "key")})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config: where, what, and the bad value (if any)."""

    path: str
    message: str
    value: Any = field(default=NO_VALUE)
    source: str | None = None

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.path) if part)
        text = f"{where}: {self.message}" if where else self.message
        if self.value is not NO_VALUE:
            text += f" ({_short_repr(self.value)})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: path, message, value (absent when there is none), source."""
        data: dict[str, Any] = {"path": self.path, "message": self.message}
        if self.value is not NO_VALUE:
            data["value"] = _jsonable(self.value)
        if self.source:
            data["source"] = self.source
        return data


class ConfigError(Exception):
    """Raised by the loaders with every issue found, never just the first."""

    def __init__(self, errors: Iterable[ConfigIssue]) -> None:
        self.errors: list[ConfigIssue] = list(errors)
        count = len(self.errors)
        head = f"{count} config error{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(f"  {issue}" for issue in self.errors)]))


def join_path(base: str, key: str | int) -> str:
    """Append one step to a field path: ``agents`` + 3 -> ``agents[3]``, + ``port``."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    if not _IDENT.match(key):
        return f"{base}[{key!r}]"
    return f"{base}.{key}" if base else key


def format_path(parts: Sequence[str | int], base: str = "") -> str:
    """Render a sequence of keys and indexes as one field path under `base`."""
    path = base
    for part in parts:
        path = join_path(path, part)
    return path


def path_sort_key(path: str) -> tuple[Any, ...]:
    """Order paths as a document is written: ``version``, ``global``, ``hosts``, ``agents``,
    and ``agents[2]`` before ``agents[10]``."""
    tokens = [tok for tok in re.split(r"[.\[\]]+", path) if tok]
    first = tokens[0] if tokens else ""
    rank = _TOP_ORDER.index(first) if first in _TOP_ORDER else len(_TOP_ORDER)
    return (rank, *((0, int(t), "") if t.isdigit() else (1, 0, t) for t in tokens))


def looks_secret(key: str) -> bool:
    """True for a key that names a credential: ``password``, ``API_KEY``, ``authToken`` ..."""
    words = [w.lower() for w in _WORD_SPLIT.split(key) if w]
    if any(word in _SECRET_WORDS for word in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in zip(words, words[1:], strict=False))


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return repr(value)
