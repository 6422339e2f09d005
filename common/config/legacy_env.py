"""Expansions in an agent's ``env:`` values and a script's ``args:``.

The original's scripts read their ports from variables of their own (``MEMORY_ORCHESTRATOR_PORT``)
or from argv, so the config hands them over by expansion, never by a number copied by hand:

    ${PORT}            the agent's port            ${HEALTH_PORT}   its health_port
    ${PORT_OFFSET}     global.port_offset          ${ports.NAME}    its declared port NAME
    ${HOST_ADDRESS}    its host's address (``--address`` overrides applied)

The schema checks that every expansion names one of these (``unknown_expansions``); the host
plan substitutes the values (``expand``).  ``$$`` writes a literal ``$``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["EXPANSION", "expand", "expansion_values", "unknown_expansions"]

EXPANSION = re.compile(r"\$\$|\$\{([^}]*)\}")


def _names(text: str) -> Iterable[str]:
    for match in EXPANSION.finditer(text):
        if match.group(0) != "$$":
            yield match.group(1)


def unknown_expansions(text: str, known: Iterable[str]) -> list[str]:
    """The ``${...}`` names in text that known does not list."""
    allowed = set(known)
    return [name for name in _names(text) if name not in allowed]


def expansion_values(port: int, health_port: int | None, port_offset: int,
                     ports: Mapping[str, int], host_address: str) -> dict[str, str]:
    """Every name an agent's env and args may expand, with its value."""
    values = {"PORT": str(port), "PORT_OFFSET": str(port_offset), "HOST_ADDRESS": host_address}
    if health_port is not None:
        values["HEALTH_PORT"] = str(health_port)
    values.update({f"ports.{key}": str(value) for key, value in ports.items()})
    return values


def expand(text: str, values: Mapping[str, str]) -> str:
    """text with each ``${NAME}`` replaced by its value (KeyError on an unknown name)."""
    return EXPANSION.sub(lambda m: "$" if m.group(0) == "$$" else values[m.group(1)], text)
