"""reasoning_services, vision_processing and learning_knowledge."""

from __future__ import annotations

from typing import Any

from common.kinds import MonitorAgent, RouterAgent, StateHolder, StoreAgent
from common.kinds.model import ModelWorker

__all__ = ["ActiveLearningMonitor", "ChainOfThoughtAgent", "CognitiveModelAgent",
           "FaceRecognitionAgent", "GoTToTAgent", "LearningAdjusterAgent",
           "LearningManager", "LearningOpportunityDetector", "LearningOrchestrationService"]

REASONING_RULES = {"code": ["code", "bug", "function", "error"],
                   "math": ["sum", "plus", "times", "calculate", "number"],
                   "plan": ["plan", "steps", "how", "goal"]}


class ChainOfThoughtAgent(RouterAgent):
    """Breaks a problem down by type and asks the model suite for each answer."""

    rules = REASONING_RULES
    routes = {"other": ["ModelManagerSuite"]}


class GoTToTAgent(RouterAgent):
    """Tree-of-thought: tries the model suite, backs off to the chain-of-thought agent."""

    rules = REASONING_RULES
    routes = {"other": ["ModelManagerSuite", "ChainOfThoughtAgent"]}


class CognitiveModelAgent(StoreAgent):
    """A belief store: beliefs with confidence (importance), searchable."""

    default_kind = "belief"


class FaceRecognitionAgent(ModelWorker):
    """InsightFace buffalo_l stand-in (1000 MB): face embeddings for the Responder."""


class LearningOrchestrationService(StoreAgent):
    """Training cycles and opportunities queued for them."""

    default_kind = "opportunity"


class LearningOpportunityDetector(RouterAgent):
    """Scores an interaction as a learning opportunity and files the good ones."""

    rules = {"correction": ["wrong", "no", "actually", "mali", "incorrect"],
             "praise": ["thanks", "great", "salamat", "correct"]}
    routes = {"correction": ["LearningOrchestrationService"]}
    route_action = "store"


class LearningManager(StoreAgent):
    """Learning progress per user (session), last 500 events."""

    default_kind = "progress"
    window = 500


class ActiveLearningMonitor(MonitorAgent):
    """Watches the learning manager's sample counts to pick when to sample actively."""

    probes = (("LearningManager", "stats"),)
    interval_s = 5.0


class LearningAdjusterAgent(StateHolder):
    """Learning-rate and batch-size parameters, adjusted by set and published."""

    fields = {"learning_rate": 0.0003, "batch_size": 8, "warmup_steps": 100}
    ranges = {"learning_rate": (1e-6, 1e-2), "batch_size": (1, 256)}

    def fold(self, upstream: dict[str, Any]) -> dict[str, Any]:
        return {}
