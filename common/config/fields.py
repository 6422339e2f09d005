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

__all__ = ["AGENT_NAME_PATTERN", "AgentName", "EnvName", "HostName", "IpAddress", "ModuleRef",
           "Port", "PortKey", "Text"]

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


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Port = Annotated[int, BeforeValidator(_port)]
AgentName = Annotated[str, _matching(AGENT_NAME_PATTERN, "agent name")]
HostName = Annotated[str, _matching(r"^[a-z][a-z0-9_]{0,31}$", "host name")]
EnvName = Annotated[str, _matching(r"^[A-Za-z_][A-Za-z0-9_]*$", "environment variable name")]
PortKey = Annotated[str, _matching(r"^[a-z][a-z0-9_]{0,31}$", "port name")]
ModuleRef = Annotated[str, _matching(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$",
                                     "module reference 'package.module:Class'")]
Text = Annotated[str, AfterValidator(_non_empty)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
