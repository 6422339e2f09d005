"""MeshAgent: a BaseAgent that calls other agents by name and records the hops it took.

``self.call(name, action, payload)`` goes through one Client per agent (loop thread only),
with per-peer circuit breakers and a deadline; the reply's own ``hops`` (if any) are spliced
after this agent's hop, so a request's whole path comes back to the caller.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from common.base_agent import BaseAgent
from common.base_agent.client import Client
from common.base_agent.errors import MeshError, NoInstanceError
from common.base_agent.protocol import ErrorCode
from common.base_agent.settings import AgentSettings

__all__ = ["CALL_TIMEOUT_S", "MeshAgent", "hop"]

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 2.0


def hop(agent: str, host: str, action: str, started: float) -> dict[str, Any]:
    """One hop of a request: who answered, where, and how long it took there (ms)."""
    return {"agent": agent, "host": host, "action": action,
            "ms": round((time.perf_counter() - started) * 1000, 3)}


class MeshAgent(BaseAgent):
    """Base of every kind: a Client for calls by name and the host name for hop records."""

    class Settings(AgentSettings):
        breaker_threshold: int = 3  # the original RequestCoordinator: 3 failures, 30 s reset
        breaker_reset_s: float = 30.0
        call_timeout_s: float = CALL_TIMEOUT_S

    settings: Settings

    def on_setup(self) -> None:
        self.host_name = os.environ.get("MESH_HOST", self.host)
        self.client = Client(self.registry_endpoint, ctx=self.ctx, source=self.name,
                             breaker_threshold=self.settings.breaker_threshold,
                             breaker_reset_s=self.settings.breaker_reset_s,
                             on_wait=self.pump)  # live while a call waits
        self.call_timeout_s = self.settings.call_timeout_s
        self._kind_up = False
        self.setup_kind()
        self._kind_up = True

    def setup_kind(self) -> None:
        """Kinds open their resources here (called from on_setup)."""

    def stop_kind(self) -> None:
        """Kinds release their resources here (called from on_stop)."""

    def on_stop(self) -> None:
        """Also runs when setup failed (a port in use): release only what was opened."""
        if not hasattr(self, "client"):
            return
        try:
            if self._kind_up:
                self.stop_kind()
        finally:
            self.client.close()

    def call(self, name: str, action: str, payload: Any = None,
             hops: list[dict[str, Any]] | None = None, *, timeout_s: float | None = None,
             idempotent: bool = True) -> Any:
        """Call name.action; append the callee's hops (from a dict reply) to ``hops``.
        A callee with no live instance now is ``unavailable`` to our caller (it may retry),
        not ``not_found``."""
        try:
            result = self.client.call(name, action, payload, timeout_s=timeout_s or
                                      self.call_timeout_s, retries=1 if idempotent else 0,
                                      idempotent=idempotent)
        except NoInstanceError as exc:
            raise MeshError(str(exc), ErrorCode.UNAVAILABLE) from None
        if hops is not None and isinstance(result, dict):
            hops.extend(result.pop("hops", []))
        return result

    def my_hop(self, action: str, started: float) -> dict[str, Any]:
        return hop(self.name, self.host_name, action, started)
