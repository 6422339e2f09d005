"""PC2's routers, queues, monitors and GPU model agents (vision and tutoring)."""

from __future__ import annotations

import os
import shutil
from typing import Any

import psutil

from common.kinds import (
    MonitorAgent,
    RouterAgent,
    SchedulerAgent,
    TaskQueueAgent,
)
from common.kinds.model import ModelWorker

__all__ = ["AdvancedRouter", "AgentTrustScorer", "AsyncProcessor", "DreamWorldAgent",
           "DreamingModeAgent", "RemoteConnectorAgent", "ResourceManager", "TaskScheduler",
           "TieredResponder", "TutorAgent", "TutoringAgent", "UnifiedUtilsAgent",
           "VisionProcessingAgent"]

TASK_TYPES = {"code": ["code", "function", "bug", "script"],
              "reasoning": ["why", "prove", "reason", "explain"],
              "chat": ["hello", "hi", "how", "feel"], "vision": ["image", "photo", "see"]}


class TieredResponder(RouterAgent):
    """Instant / fast / deep tier by the query's complexity words."""

    rules = {"deep": ["explain", "analyze", "compare", "why", "design"],
             "fast": ["what", "who", "when", "where"], "instant": ["hi", "hello", "thanks"]}
    default_label = "fast"


class AsyncProcessor(TaskQueueAgent):
    """The asynchronous priority task queue and its worker."""


class TaskScheduler(SchedulerAgent):
    """Recurring background jobs onto AsyncProcessor (a light default schedule)."""

    target = "AsyncProcessor"
    default_schedule = ({"job": "primes", "args": 20000, "every_s": 5.0},)


class DreamWorldAgent(TaskQueueAgent):
    """Scenario simulations ("dreams") run as queued jobs."""


class DreamingModeAgent(SchedulerAgent):
    """Schedules dreaming cycles onto DreamWorldAgent."""

    target = "DreamWorldAgent"
    default_schedule = ({"job": "word_count", "args": "dream of the day's interactions",
                         "every_s": 10.0},)


class AdvancedRouter(RouterAgent):
    """Task type (code, reasoning, chat, vision) from natural language."""

    rules = TASK_TYPES


class RemoteConnectorAgent(RouterAgent):
    """One client for model APIs: to MainPC's model suite by name, not a hardcoded IP."""

    rules = TASK_TYPES
    routes = {"other": ["ModelManagerSuite"]}


class ResourceManager(MonitorAgent):
    """PC2's CPU and memory (80 % thresholds) and its GPU through the VRAM pool."""

    probes = (("service:model_manager", "status"),)
    interval_s = 3.0

    def summarize(self, agent: str, action: str, result: Any) -> Any:
        own = os.environ.get("MESH_HOST")  # this agent's host, as the launcher names it
        return [g for g in result["gpus"] if g["host"] == own]

    def local(self) -> dict[str, Any]:
        cpu, mem = psutil.cpu_percent(None), psutil.virtual_memory().percent
        return {"cpu_percent": cpu, "memory_percent": mem,
                "overloaded": cpu > 80 or mem > 80}


class UnifiedUtilsAgent(MonitorAgent):
    """System info and disk space of the state directory (no deleting of anyone's files)."""

    interval_s = 10.0

    def local(self) -> dict[str, Any]:
        usage = shutil.disk_usage(os.environ.get("MESH_STATE_DIR", "."))
        return {"disk_free_mb": usage.free // 2**20, "load_avg": os.getloadavg()}


class AgentTrustScorer(MonitorAgent):
    """Trust per model agent from its health answers' latency and failures."""

    probes = (("VisionProcessingAgent", "health"), ("TutoringAgent", "health"),
              ("TutorAgent", "health"))
    interval_s = 5.0


class VisionProcessingAgent(ModelWorker):
    """A vision model (1500 MB) on PC2's GPU: the original's placeholder given real work."""


class TutorAgent(ModelWorker):
    """The tutoring engine's difficulty model (small, 200 MB) on PC2's GPU."""


class TutoringAgent(ModelWorker):
    """The lesson-writing LLM (phi3, 2000 MB) on PC2's GPU."""
