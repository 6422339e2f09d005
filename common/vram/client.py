"""LeaseClient: the lease protocol (common.vram.protocol) for model agents and tools.

A thin, typed wrapper over a :class:`~common.base_agent.client.Client` (one per thread).
``acquire`` is not retried (a retry after a lost reply would take a second lease); the other
calls are idempotent and retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.base_agent.client import Client
from common.vram import protocol as vp

__all__ = ["LeaseClient"]

CALL_TIMEOUT_S = 2.0


class LeaseClient:
    def __init__(self, client: Client, *, manager: str = vp.DEFAULT_MANAGER,
                 holder: dict[str, Any] | None = None,
                 timeout_s: float = CALL_TIMEOUT_S) -> None:
        self.client = client
        self.manager = manager
        self.holder = dict(holder or {})
        self.timeout_s = timeout_s

    def _call(self, action: str, payload: dict[str, Any], idempotent: bool = True) -> Any:
        return self.client.call(self.manager, action, payload, timeout_s=self.timeout_s,
                                retries=2 if idempotent else 0, idempotent=idempotent)

    def acquire(self, model: str, vram_mb: float, *, priority: int = 0, pinned: bool = False,
                hosts: Sequence[str] | None = None, wait: bool = True,
                deadline_s: float | None = None) -> dict[str, Any]:
        """-> LeaseView whose ``status`` is granted, queued or refused; queued at most
        deadline_s (None: the pool's queue_deadline_s), then refused."""
        return self._call(vp.ACTION_ACQUIRE, {
            "model": model, "vram_mb": vram_mb, "priority": priority, "pinned": pinned,
            "hosts": list(hosts or []), "wait": wait, "deadline_s": deadline_s,
            "holder": self.holder}, idempotent=False)

    def release(self, lease_id: str, *, warm_bytes: int = 0, timeout_s: float | None = None,
                retries: int = 2) -> dict[str, Any]:
        """Give the lease back (cancels it while queued); warm_bytes > 0 offers the unloaded
        weights to the warm tier (the reply's ``warm`` says whether to keep them).  A stopping
        agent passes a short timeout_s and no retries so that a dead manager does not hold up
        its exit."""
        return self.client.call(self.manager, vp.ACTION_RELEASE,
                                {"lease_id": lease_id, "warm_bytes": int(warm_bytes)},
                                timeout_s=timeout_s or self.timeout_s, retries=retries)

    def keepalive(self, lease_id: str) -> dict[str, Any]:
        return self._call(vp.ACTION_KEEPALIVE, {"lease_id": lease_id})

    def touch(self, lease_id: str, uses: int = 1) -> dict[str, Any]:
        return self._call(vp.ACTION_TOUCH, {"lease_id": lease_id, "uses": max(1, int(uses))})

    def report(self, lease_id: str, used_bytes: int, *, load_s: float | None = None,
               tier: vp.Tier | None = None) -> dict[str, Any]:
        """What the loaded model really uses, and how long its load from tier took."""
        return self._call(vp.ACTION_REPORT, {
            "lease_id": lease_id, "used_bytes": int(used_bytes), "load_s": load_s,
            "tier": tier.value if tier else None})

    def lease(self, lease_id: str) -> dict[str, Any]:
        return self._call(vp.ACTION_LEASE, {"lease_id": lease_id})

    def status(self) -> dict[str, Any]:
        return self._call(vp.ACTION_STATUS, {})

    def holder_exited(self, *, instance_id: str = "", host: str = "",
                      pid: int = 0) -> list[str]:
        found = self._call(vp.ACTION_HOLDER_EXITED,
                           {"instance_id": instance_id, "host": host, "pid": pid})
        return list(found["reclaimed"])
