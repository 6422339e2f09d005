"""Ready-made agents for tests, benchmarks and users' own tests."""

from __future__ import annotations

import time
from typing import Any

from common.base_agent.agent import BaseAgent
from common.base_agent.errors import MeshError
from common.base_agent.handlers import handler, require

__all__ = ["MAX_SLEEP_S", "EchoAgent"]

MAX_SLEEP_S = 30.0


class EchoAgent(BaseAgent):
    """``echo`` returns its payload; ``sleep`` waits ``seconds`` (≤ 30) then answers;
    ``fail`` answers an error with ``code`` (default ``internal``) and ``message``."""

    capabilities = ("echo",)

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
