"""core_services: SystemDigitalTwin, RequestCoordinator, UnifiedSystemAgent, ModelManagerSuite."""

from __future__ import annotations

from collections import Counter
from typing import Any

from common.kinds import MonitorAgent, RequestCoordinatorKind
from common.kinds.model import ModelWorker

__all__ = ["ModelManagerSuite", "RequestCoordinator", "SystemDigitalTwin",
           "UnifiedSystemAgent"]


class SystemDigitalTwin(MonitorAgent):
    """The system model: live agents per host from the registry, and the VRAM ledger."""

    probes = (("service:registry", "list"), ("service:model_manager", "status"))
    interval_s = 2.0

    def summarize(self, agent: str, action: str, result: Any) -> Any:
        if agent == "service:registry":
            hosts = Counter(r.get("host", "?") for r in result)
            return {"agents": len(result), "by_address": dict(hosts)}
        if agent == "service:model_manager":
            return {g["gpu"]: {"committed_mb": g["committed_mb"], "free_mb": g["free_mb"]}
                    for g in result["gpus"]}
        return super().summarize(agent, action, result)


class UnifiedSystemAgent(MonitorAgent):
    """Ops command centre: keeps the registry's view of the mesh for discovery commands."""

    probes = (("service:registry", "info"),)
    interval_s = 5.0


class RequestCoordinator(RequestCoordinatorKind):
    """The front door: priority queue (max 100), circuit breaker per service (3, 30 s)."""


class ModelManagerSuite(ModelWorker):
    """The model suite: the GGUF LLMs (phi-3-mini 2250 MB + mistral-7b 4200 MB) as one lease."""
