"""MonitorAgent: every ``interval_s`` it asks a few agents something, keeps what they said.

``probes`` is a list of ``[agent, action]`` (``service:model_manager`` names the agent that
provides that service in this mesh); each answer's latency goes into a short history
and a latency z-score flags outliers (the original's "failure prediction").  ``summarize``
(override) reduces an answer to what the role keeps (SystemDigitalTwin: the registry's
agents per host; VRAMOptimizerAgent: pool pressure).  ``report`` returns it all.
"""

from __future__ import annotations

import collections
import statistics
import time
from typing import Annotated, Any

from pydantic import Field

from common.base_agent import MeshError, handler
from common.base_agent.services import SERVICE_PREFIX, service_name
from common.kinds.base import MeshAgent

__all__ = ["MonitorAgent"]

Probe = Annotated[list[str], Field(min_length=2, max_length=2)]  # [agent, action]

HISTORY = 50
PROBE_TIMEOUT_S = 0.5
Z_ALERT = 3.0


class MonitorAgent(MeshAgent):
    tick_interval_s = 0.25  # probes run every interval_s (seconds)
    capabilities = ("monitor",)
    probes: tuple[tuple[str, str], ...] = ()
    interval_s = 5.0

    class Settings(MeshAgent.Settings):
        probes: list[Probe] | None = None  # None: the class's own probes
        interval_s: float | None = Field(default=None, gt=0)  # None: the class's own

    settings: Settings

    def setup_kind(self) -> None:
        s = self.settings
        if s.probes is not None:
            self.probes = tuple((agent, action) for agent, action in s.probes)
        if s.interval_s is not None:
            self.interval_s = s.interval_s
        self.latency_ms: dict[str, collections.deque[float]] = collections.defaultdict(
            lambda: collections.deque(maxlen=HISTORY))
        self.last: dict[str, Any] = {}
        self.failures: dict[str, int] = collections.Counter()
        self.anomalies: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self._due = time.monotonic() + self.interval_s

    def on_tick(self) -> None:
        if time.monotonic() >= self._due:
            self._due = time.monotonic() + self.interval_s
            for target, action in self.probes:
                self._probe(target, action)
            self.last["local"] = self.local()

    def _probe(self, target: str, action: str) -> None:
        """Ask target; summarize(target, ...) keeps the answer under the agent's name."""
        agent = _resolve(target)
        if agent is None:
            self.failures[target] += 1
            self.last[target] = {"error": "no agent provides that service in this mesh"}
            return
        t0 = time.perf_counter()
        try:
            result = self.client.call(agent, action, {}, timeout_s=PROBE_TIMEOUT_S, retries=0)
        except MeshError as exc:
            self.failures[agent] += 1
            self.last[agent] = {"error": str(exc)}
            return
        ms = (time.perf_counter() - t0) * 1000
        history = self.latency_ms[agent]
        if len(history) >= 5:
            mean, sd = statistics.fmean(history), statistics.pstdev(history) or 0.1
            if (ms - mean) / sd > Z_ALERT:
                self.anomalies.append({"agent": agent, "ms": round(ms, 3),
                                       "mean_ms": round(mean, 3), "ts": time.time()})
        history.append(ms)
        self.last[agent] = self.summarize(target, action, result)

    def summarize(self, agent: str, action: str, result: Any) -> Any:
        if isinstance(result, dict) and "status" in result:
            return {"status": result["status"]}
        return result

    def local(self) -> dict[str, Any]:
        """Facts about this host (override)."""
        return {}

    @handler("report")
    def report(self, payload: Any = None) -> dict[str, Any]:
        latency = {a: round(statistics.fmean(h), 3) for a, h in self.latency_ms.items() if h}
        return {"last": self.last, "mean_latency_ms": latency,
                "failures": dict(self.failures), "anomalies": list(self.anomalies)}


def _resolve(target: str) -> str | None:
    if target.startswith(SERVICE_PREFIX):
        return service_name(target[len(SERVICE_PREFIX):])
    return target
