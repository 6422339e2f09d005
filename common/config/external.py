"""The ``services:`` section: what agents depend on that is not an agent (docs/LEGACY.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from common.config.base import ConfigModel
from common.config.fields import AgentName, HostName, IpAddress, Port, Text
from common.config.legacy_env import unknown_expansions

__all__ = ["ExternalService"]


class ExternalService(ConfigModel):
    """Something agents depend on that is not an agent (``services[i]``): Redis, NATS, a log
    collector.  Agents list its name in ``dependencies:`` and start once its check passes:
    ``tcp`` (a connection to address:port), ``http`` (GET http_path answers 2xx), or
    ``command`` (exits 0 within timeout_s).  With ``start`` (an argv), the launcher of its
    host runs it when the check fails, and stops it when the launcher stops.  ``command``
    and ``start`` expand ``${PORT}``, ``${HOST_ADDRESS}`` and ``${PORT_OFFSET}``.  The hubs
    show each service as an entry of its host (passing or critical, with the check's text)."""

    name: AgentName
    host: HostName
    address: IpAddress | None = None  # default: its host's address
    port: Port
    check: Literal["tcp", "http", "command"] = "tcp"
    http_path: Text = "/"
    command: list[str] = Field(default_factory=list)
    start: list[str] = Field(default_factory=list)
    interval_s: float = Field(default=2.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _command_given(self) -> ExternalService:
        if self.check == "command" and not self.command:
            raise ValueError("check: command needs command: [argv...]")
        known = ["PORT", "HOST_ADDRESS", "PORT_OFFSET"]
        for where, texts in (("command", self.command), ("start", self.start)):
            for i, text in enumerate(texts):
                unknown = unknown_expansions(text, known)
                if unknown:
                    raise ValueError(f"{where}[{i}]: unknown expansion ${{{unknown[0]}}}; "
                                     "known: ${PORT}, ${HOST_ADDRESS}, ${PORT_OFFSET}")
        return self
