"""memory_system: MemoryClient, SessionMemoryAgent, KnowledgeBase."""

from __future__ import annotations

from common.kinds import RelayAgent, StoreAgent

__all__ = ["KnowledgeBase", "MemoryClient", "SessionMemoryAgent"]


class MemoryClient(RelayAgent):
    """MainPC's door to PC2's MemoryOrchestratorService (a declared cross-host dependency)."""

    target = "MemoryOrchestratorService"


class SessionMemoryAgent(StoreAgent):
    """Conversation history per session, searchable; the last 200 turns per session."""

    default_kind = "turn"
    window = 200


class KnowledgeBase(StoreAgent):
    """Facts, searchable here and written through to the central memory on PC2."""

    default_kind = "fact"
    mirror_to = "MemoryClient"
