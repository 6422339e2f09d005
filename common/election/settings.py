"""What an elected service gets from the host plan when ``registry.backend`` is etcd."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ElectionSettings"]


class ElectionSettings(BaseModel):
    """``registry.endpoints``, ``registry.leader_ttl_s`` and ``registry.timeout_s``; the
    candidates of the role (the agents of the service) and their endpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoints: list[str] = Field(min_length=1)
    ttl_s: float = Field(default=1.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    candidates: dict[str, str] = {}  # candidate name -> the endpoint it serves on
