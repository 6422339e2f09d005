"""The scalar types of the startup config: ports, names, addresses, module references.

Each is an ``Annotated`` type with its validator, shared by the config's models
(`common.config.schema`) and the change files of migrations.  A port accepts an int or
``${PORT_OFFSET}+N`` and holds an int afterwards; the offset comes from the validation context
``{"port_offset": N}``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ValidationInfo

from common.config.expressions import resolve_port

__all__ = ["AGENT_NAME_PATTERN", "AgentName", "Duration", "EnvName", "HostName", "IpAddress",
           "ModuleRef", "Port", "PortKey", "Text", "parse_duration"]

AGENT_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"


def _matching(pattern: str, what: str) -> AfterValidator:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"invalid {what}; expected {pattern}")
        return value

    return AfterValidator(check)


def _port(value: object, info: ValidationInfo) -> int:
    context = info.context if isinstance(info.context, dict) else {}
    return resolve_port(value, int(context.get("port_offset", 0)))


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("not an IP address (IPv4 or IPv6)") from None


_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: object) -> int:
    """Seconds of ``30d``, ``6h``, ``5m``, ``90s``, ``2w`` (or an int of seconds, as
    ``mesh config show`` prints it); above zero."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.match(value.strip())):
        seconds = int(match[1]) * _UNIT_S[match[2]]
    else:
        raise ValueError("expected a duration such as 30d, 6h, 5m or 90s (or seconds as an int)")
    if seconds <= 0:
        raise ValueError("a duration must be above zero")
    return seconds


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Port = Annotated[int, BeforeValidator(_port)]
Duration = Annotated[int, BeforeValidator(parse_duration)]  # seconds
AgentName = Annotated[str, _matching(AGENT_NAME_PATTERN, "agent name")]
HostName = Annotated[str, _matching(r"^[a-z][a-z0-9_]{0,31}$", "host name")]
EnvName = Annotated[str, _matching(r"^[A-Za-z_][A-Za-z0-9_]*$", "environment variable name")]
PortKey = Annotated[str, _matching(r"^[a-z][a-z0-9_]{0,31}$", "port name")]
ModuleRef = Annotated[str, _matching(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$",
                                     "module reference 'package.module:Class'")]
Text = Annotated[str, AfterValidator(_non_empty)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
