"""Ready-made agents for tests, benchmarks and users' own tests."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict

from common.base_agent.agent import BaseAgent
from common.base_agent.client import Client
from common.base_agent.errors import BadRequest, MeshError
from common.base_agent.handlers import handler, require
from common.base_agent.protocol import ErrorCode
from common.base_agent.settings import AgentSettings, parse_settings
from common.hub.link import hub_link

__all__ = ["MAX_SLEEP_S", "CrashingAgent", "DeafAgent", "EchoAgent", "HubEchoAgent", "SigningAgent"]

log = logging.getLogger(__name__)

MAX_SLEEP_S = 30.0


class EchoAgent(BaseAgent):
    """``echo`` returns its payload; ``sleep`` waits ``seconds`` (≤ 30) then answers;
    ``fail`` answers an error with ``code`` (default ``internal``) and ``message``;
    ``settings`` answers the settings, ports and pid it was started with;
    ``log`` writes ``lines`` log lines (≤ 100,000) of ``size`` characters, at ``level``
    (default ``INFO``)."""

    capabilities = ("echo",)

    class Settings(AgentSettings):
        """Any settings at all: tests check that what the config says reaches the agent."""

        model_config = ConfigDict(extra="allow")

    @handler("echo")
    def echo(self, payload: Any) -> Any:
        return payload

    @handler("sleep")
    def sleep(self, payload: Any) -> dict[str, float]:
        seconds = float(require(payload, "seconds", int | float))
        time.sleep(min(max(seconds, 0.0), MAX_SLEEP_S))
        return {"slept_s": seconds}

    @handler("fail")
    def fail(self, payload: Any) -> None:
        payload = payload if isinstance(payload, dict) else {}
        raise MeshError(str(payload.get("message", "failed on request")),
                        str(payload.get("code", "internal")))

    @handler("settings")
    def settings_(self, payload: Any = None) -> dict[str, Any]:
        return {"settings": self.settings.model_dump(), "ports": self.ports,
                "pid": os.getpid()}

    @handler("log")
    def log_lines(self, payload: Any) -> dict[str, int]:
        lines = min(int(require(payload, "lines", int)), 100_000)
        text = "x" * min(int(require(payload, "size", int, 100)), 10_000)
        level = logging.getLevelName(require(payload, "level", str, "INFO").upper())
        if not isinstance(level, int):
            raise BadRequest(f"unknown log level {payload['level']!r}")
        for i in range(lines):
            log.log(level, "line %d %s", i, text)
        return {"logged": lines}


class HubEchoAgent(EchoAgent):
    """EchoAgent plus a HubLink to ``settings["hubs"]`` (home first), for running outside a
    launcher: ``mesh agent run common.testing.agents:HubEchoAgent --settings
    '{"hubs": [HOME, OTHER]}'``."""

    class Settings(EchoAgent.Settings):
        hubs: list[str] = []

    settings: Settings

    def __init__(self, name: str, endpoint: str = "tcp://127.0.0.1:0", *,
                 settings: AgentSettings | Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        hubs = parse_settings(self.Settings, name, settings).hubs
        links = [*kwargs.pop("links", ()), *([hub_link(hubs)] if hubs else [])]
        super().__init__(name, endpoint, settings=settings, links=links, **kwargs)


class CrashingAgent(EchoAgent):
    """Exits with code 3 right after it starts serving: a crash loop for launcher tests."""

    def on_tick(self) -> None:
        raise SystemExit(3)


class DeafAgent(EchoAgent):
    """Ignores SIGTERM, as some legacy scripts do: only SIGKILL stops it."""

    def request_stop(self) -> None:
        log.info("%s: SIGTERM ignored", self.name)


class SigningAgent(EchoAgent):
    """Uses a secret as a client of an authenticated API would: ``sign {data}`` answers
    ``{hmac}``, the HMAC-SHA256 of data keyed with the environment variable named by
    ``settings.secret`` (default ``API_KEY``), in hex.  Whoever knows the secret can check it;
    the reply does not reveal it.  Without the secret, ``sign`` answers ``unavailable``."""

    class Settings(EchoAgent.Settings):
        secret: str = "API_KEY"

    settings: Settings

    @handler("sign")
    def sign(self, payload: Any) -> dict[str, str]:
        data = require(payload, "data", str)
        name = self.settings.secret
        key = os.environ.get(name)
        if not key:
            raise MeshError(f"{self.name} has no secret {name}: signing is off",
                            ErrorCode.UNAVAILABLE)
        return {"hmac": hmac.new(key.encode(), data.encode(), hashlib.sha256).hexdigest()}


class RelayAgent(EchoAgent):
    """``relay {to, action, payload, fresh?}`` calls agent ``to`` by name through the
    registry (``fresh``: resolved anew, not from the cache) and answers its reply."""

    def on_setup(self) -> None:
        self._relay: Client | None = None

    @handler("relay")
    def relay(self, payload: Any) -> Any:
        to = require(payload, "to", str)
        if self._relay is None:
            self._relay = Client(self.registry_endpoint, ctx=self._ctx, source=self.name,
                                 on_wait=self.pump)
        if require(payload, "fresh", bool, False):
            self._relay.invalidate(to)
        return self._relay.call(to, require(payload, "action", str), payload.get("payload"),
                                timeout_s=1.0, retries=1)

    def on_stop(self) -> None:
        if self._relay is not None:
            self._relay.close()
