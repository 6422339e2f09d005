"""``StrEnum``: the standard library's ``enum.StrEnum`` (3.11) for Python 3.10 too.

Members are ``str``: they compare equal to their value, and ``str()``, f-strings, ``format()``,
msgpack and json all give the plain value (``f"{Status.PASSING}"`` is ``passing``, never
``Status.PASSING``), on every Python from 3.10 on.  ``auto()`` gives the lower-cased name.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

__all__ = ["StrEnum"]


class StrEnum(str, Enum):
    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(str(self), format_spec)

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[Any]) -> str:
        return name.lower()
