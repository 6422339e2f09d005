"""PC2's memory layer: the store both hosts use, and the stores and readers around it."""

from __future__ import annotations

from common.kinds import MonitorAgent, RelayAgent, StoreAgent

__all__ = ["AuthenticationAgent", "CacheManager", "ContextManager", "ExperienceTracker",
           "FileSystemAssistantAgent", "MemoryOrchestratorService",
           "ProactiveContextMonitor", "UnifiedMemoryReasoningAgent", "UnifiedWebAgent"]


class MemoryOrchestratorService(StoreAgent):
    """The memory store of both machines (MainPC reaches it through MemoryClient)."""


class CacheManager(StoreAgent):
    """Caches with a TTL per type (the original's NLLB/LLM/TTS/memory caches, on SQLite)."""

    default_kind = "llm"
    ttl_s_by_kind = {"nllb": 3600.0, "llm": 600.0, "tts": 1800.0, "memory": 300.0}


class ContextManager(StoreAgent):
    """Sliding-window conversation context: the 20 most important recent items per session."""

    default_kind = "context"
    window = 20


class ExperienceTracker(StoreAgent):
    """Interaction episodes, kept here and written through to episodic memory."""

    default_kind = "episode"
    mirror_to = "MemoryOrchestratorService"


class UnifiedMemoryReasoningAgent(RelayAgent):
    """Reasoning over stored context: reads the central memory with a short cache."""

    target = "MemoryOrchestratorService"


class UnifiedWebAgent(RelayAgent):
    """Information gathering: answered from memory here (no internet on these hosts)."""

    target = "MemoryOrchestratorService"
    cache_ttl_s = 30.0


class AuthenticationAgent(StoreAgent):
    """Sessions and tokens, each expiring after an hour."""

    default_kind = "session"
    ttl_s_by_kind = {"session": 3600.0}


class FileSystemAssistantAgent(StoreAgent):
    """File records for other agents, kept in its own sandboxed SQLite file."""

    default_kind = "file"


class ProactiveContextMonitor(MonitorAgent):
    """Watches the context window's size to trigger proactive responses."""

    probes = (("ContextManager", "stats"),)
    interval_s = 5.0
