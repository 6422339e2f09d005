"""Port values: an integer, or the expression ``${PORT_OFFSET}+N``.

This is the one place where ``${PORT_OFFSET}+N`` is expanded. The grammar is deliberately tiny:
the only variable is ``PORT_OFFSET``, the only operator is ``+``, N is a decimal integer, and
spaces around ``+`` are allowed. Everything else is an error that says what was expected.
"""

from __future__ import annotations

import re

__all__ = [
    "PORT_MAX",
    "PORT_MIN",
    "PORT_OFFSET_VAR",
    "is_port_expression",
    "resolve_port",
    "shift_port",
]

PORT_MIN = 1
PORT_MAX = 65535
PORT_OFFSET_VAR = "PORT_OFFSET"

_EXPECTED = "expected an integer or '${PORT_OFFSET}+N'"
_FORM = re.compile(r"^\s*\$\{(?P<var>[^}]*)\}\s*(?:(?P<op>\S)\s*(?P<num>.*?))?\s*$")


def is_port_expression(value: object) -> bool:
    """True if `value` is a string of the ``${PORT_OFFSET}+N`` form (well formed or not)."""
    return isinstance(value, str) and "${" in value


def resolve_port(value: object, port_offset: int) -> int:
    """Turn a port value into an int in 1..65535, or raise ValueError saying why not."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{_EXPECTED}, got {type(value).__name__}")
    port = value if isinstance(value, int) else port_offset + _expression_term(value)
    if not PORT_MIN <= port <= PORT_MAX:
        where = "" if isinstance(value, int) else f" ({value} with PORT_OFFSET={port_offset})"
        raise ValueError(f"port {port}{where} is out of range {PORT_MIN}..{PORT_MAX}")
    return port


def shift_port(value: object, delta: int) -> int | str | None:
    """`value` + `delta`, written the way `value` was (an int, or ``${PORT_OFFSET}+N``);
    None if `value` is neither a valid int nor a valid expression."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value + delta
    if not isinstance(value, str):
        return None
    try:
        term = _expression_term(value)
    except ValueError:
        return None
    return f"${{{PORT_OFFSET_VAR}}}+{term + delta}"


def _expression_term(text: str) -> int:
    """The N of ``${PORT_OFFSET}+N``; ValueError naming the fault for any other string."""
    match = _FORM.match(text)
    if match is None:
        raise ValueError(f"not a port: {_EXPECTED}")
    if match["var"] != PORT_OFFSET_VAR:
        raise ValueError(f"unknown variable ${{{match['var']}}}: only ${{{PORT_OFFSET_VAR}}} "
                         f"is defined ({_EXPECTED})")
    if match["op"] != "+":
        raise ValueError(f"port expression needs '+ N' after ${{{PORT_OFFSET_VAR}}} ({_EXPECTED})")
    number = match["num"]
    if not number.isdecimal() or not number.isascii():
        raise ValueError(f"port expression term {number!r} is not a non-negative integer "
                         f"({_EXPECTED})")
    return int(number)
