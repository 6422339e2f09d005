"""PC2's memory layer: the store both hosts use, and the stores and readers around it."""

from __future__ import annotations

import os
from typing import Any

from common.base_agent import BadRequest, MeshError, handler, require
from common.base_agent.protocol import ErrorCode
from common.kinds import MonitorAgent, RelayAgent, StoreAgent
from pc2.agents import tokens

__all__ = ["AuthenticationAgent", "CacheManager", "ContextManager", "ExperienceTracker",
           "FileSystemAssistantAgent", "MemoryOrchestratorService",
           "ProactiveContextMonitor", "UnifiedMemoryReasoningAgent", "UnifiedWebAgent"]

SESSION_TTL_S = 3600.0
TOKEN_KEY = "AUTH_TOKEN_KEY"  # the secret tokens are signed with (startup_config.yaml)


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
    """Sessions and tokens, each expiring after an hour.  ``issue_token {subject, ttl_s?}`` ->
    ``{token, expires}`` and ``verify_token {token}`` -> ``{valid, subject, expires}`` or
    ``{valid: false, reason}`` sign with the secret AUTH_TOKEN_KEY (declared optional in
    startup_config.yaml); without it both answer ``unavailable``, and the health check
    ``secrets`` says token signing is off."""

    default_kind = "session"
    ttl_s_by_kind = {"session": SESSION_TTL_S}

    @handler("issue_token")
    def issue_token(self, payload: Any) -> dict[str, Any]:
        subject = require(payload, "subject", str)
        ttl_s = float(require(payload, "ttl_s", (int, float), SESSION_TTL_S))
        if not 0 < ttl_s <= SESSION_TTL_S:
            raise BadRequest(f"payload.ttl_s must be in (0, {SESSION_TTL_S:g}]")
        token, expires = tokens.issue_token(self._token_key(), subject, ttl_s)
        return {"token": token, "expires": expires}

    @handler("verify_token")
    def verify_token(self, payload: Any) -> dict[str, Any]:
        try:
            claims = tokens.check_token(self._token_key(), require(payload, "token", str))
        except tokens.TokenError as exc:
            return {"valid": False, "reason": str(exc)}
        return {"valid": True, "subject": claims["sub"], "expires": claims["exp"]}

    def _token_key(self) -> str:
        key = os.environ.get(TOKEN_KEY)
        if not key:
            raise MeshError(f"{self.name}: secret {TOKEN_KEY} is not set: token signing is off",
                            ErrorCode.UNAVAILABLE)
        return key


class FileSystemAssistantAgent(StoreAgent):
    """File records for other agents, kept in its own sandboxed SQLite file."""

    default_kind = "file"


class ProactiveContextMonitor(MonitorAgent):
    """Watches the context window's size to trigger proactive responses."""

    probes = (("ContextManager", "stats"),)
    interval_s = 5.0
