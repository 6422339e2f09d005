"""utility_services and gpu_infrastructure."""

from __future__ import annotations

from typing import Any

from common.kinds import MonitorAgent, RouterAgent, StoreAgent, TaskQueueAgent
from common.kinds.model import ModelWorker

__all__ = ["CodeGenerator", "Executor", "FixedStreamingTranslation", "LocalFineTunerAgent",
           "NLLBAdapter", "PredictiveHealthMonitor", "SelfTrainingOrchestrator",
           "TinyLlamaServiceEnhanced", "VRAMOptimizerAgent"]

CODE_RULES = {"python": ["python", "def", "script", "list", "function"],
              "shell": ["bash", "shell", "command", "file", "directory"],
              "sql": ["sql", "query", "table", "select", "database"]}


class CodeGenerator(RouterAgent):
    """Picks the language from the description, asks the model suite for the code."""

    rules = CODE_RULES
    routes = {"python": ["ModelManagerSuite"], "shell": ["ModelManagerSuite"],
              "sql": ["ModelManagerSuite"], "other": ["ModelManagerSuite"]}


class SelfTrainingOrchestrator(StoreAgent):
    """Training cycles and their resource allocations, in SQLite."""

    default_kind = "training_cycle"


class PredictiveHealthMonitor(MonitorAgent):
    """Latency z-scores of key agents' health answers (the original's failure prediction)."""

    probes = (("RequestCoordinator", "health"), ("ModelManagerSuite", "health"),
              ("MemoryClient", "health"))
    interval_s = 3.0


class FixedStreamingTranslation(RouterAgent):
    """Translation front end: by language, to the model suite (NLLB is loaded on demand)."""

    rules = {"translate": ["translate", "tagalog", "english", "salin"]}
    routes = {"translate": ["ModelManagerSuite"], "other": ["ModelManagerSuite"]}


class Executor(TaskQueueAgent):
    """Runs the jobs the command handlers ask for; only the built-in safe jobs, no shell."""


class TinyLlamaServiceEnhanced(ModelWorker):
    """TinyLlama-1.1B (2800 MB): chat and quick answers."""


class LocalFineTunerAgent(ModelWorker):
    """A fine-tuning job's model, loaded on demand: the big lease that makes the pool swap."""


class NLLBAdapter(ModelWorker):
    """NLLB-200-distilled-600M (2400 MB): translation, loaded on demand, unloaded when idle."""


class VRAMOptimizerAgent(MonitorAgent):
    """VRAM policy for both machines: pressure level per GPU (safe 0.5 / warning 0.75)."""

    probes = (("service:model_manager", "status"),)
    interval_s = 2.0

    def summarize(self, agent: str, action: str, result: Any) -> Any:
        out = {}
        for gpu in result["gpus"]:
            share = gpu["committed_mb"] / max(1.0, gpu["capacity_mb"])
            level = "safe" if share < 0.5 else "warning" if share < 0.75 else "critical"
            out[gpu["gpu"]] = {"share": round(share, 3), "level": level}
        return out
