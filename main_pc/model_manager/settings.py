"""The model manager's settings: the pool's `Policy` knobs, and where the GPUs are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from common.election import ElectionSettings
from main_pc.model_manager.policy import Policy

__all__ = ["ModelManagerSettings"]


class ModelManagerSettings(Policy):
    """``hosts`` and ``local_host`` are derived by the host plan from ``hosts.*.gpu`` and the
    agent's own host (common.launcher.services); run alone, give ``hosts``
    ({host: {gpu: {...}}}, see hosts.py) and optionally ``local_host`` (default: the first)."""

    hosts: dict[str, dict[str, Any]] | None = None
    local_host: str | None = None
    watch_registry: bool = True  # reclaim the leases of holders the registry loses
    election: ElectionSettings | None = None  # registry backend etcd: active by election
    clock: Callable[[], float] | None = Field(default=None, exclude=True)  # tests, in-process
