"""Good and bad versions of an agent for migration tests: settable latency, errors, crashes.

``TunableAgent`` settings: ``delay_ms`` (added to every ``echo``), ``error_rate`` (that
fraction of ``echo`` requests answers an error, evenly spread), ``crash_rate`` (the process
exits, code 3, on that fraction of ``echo`` requests, evenly spread: the launcher restarts it),
``crash_on_start`` (exit 3 right after serving starts), ``greeting`` (answered by ``settings``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from common.base_agent.errors import MeshError
from common.base_agent.handlers import handler
from common.testing.agents import EchoAgent

__all__ = ["TunableAgent"]


class TunableAgent(EchoAgent):
    _served = 0

    class Settings(EchoAgent.Settings):
        delay_ms: float = 0.0
        error_rate: float = 0.0
        crash_rate: float = 0.0
        crash_on_start: bool = False
        greeting: str = ""

    settings: Settings

    def on_tick(self) -> None:
        if self.settings.crash_on_start:
            raise SystemExit(3)

    @handler("echo")
    def echo(self, payload: Any) -> Any:
        delay_ms = self.settings.delay_ms
        if delay_ms:
            time.sleep(delay_ms / 1000)
        served, self._served = self._served, self._served + 1
        crash = self.settings.crash_rate
        if crash and int((served + 1) * crash) > int(served * crash):
            os._exit(3)  # a crash mid-request: no reply, no clean shutdown
        rate = self.settings.error_rate
        if int((served + 1) * rate) > int(served * rate):
            raise MeshError("injected error", "internal")
        return payload
