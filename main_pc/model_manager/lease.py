"""A lease, its holder, and the one transition function of its state machine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.gpu.backend import MIB
from common.vram.protocol import TERMINAL, Decision, LeaseState, Tier

__all__ = ["ACTIVE", "Holder", "Lease", "TransitionError", "transition"]

S = LeaseState
ACTIVE = frozenset({S.GRANTED, S.LOADED, S.EVICTING})  # states that commit memory

_ALLOWED: dict[LeaseState, frozenset[LeaseState]] = {
    S.QUEUED: frozenset({S.GRANTED, S.CANCELLED, S.EXPIRED, S.RECLAIMED, S.REFUSED}),
    S.GRANTED: frozenset({S.LOADED, S.EVICTING, S.RELEASED, S.EXPIRED, S.RECLAIMED}),
    S.LOADED: frozenset({S.EVICTING, S.RELEASED, S.EXPIRED, S.RECLAIMED}),
    # an eviction whose holder did not release in time is abandoned: back to loaded
    S.EVICTING: frozenset({S.LOADED, S.RELEASED, S.EXPIRED, S.RECLAIMED}),
}


class TransitionError(RuntimeError):
    pass


def transition(lease: Lease, to: LeaseState) -> None:
    """Move lease to state ``to``; raises TransitionError on an impossible move."""
    if to not in _ALLOWED.get(lease.state, frozenset()):
        raise TransitionError(f"lease {lease.lease_id}: {lease.state} -> {to} is not allowed")
    lease.state = to


@dataclass(slots=True)
class Holder:
    name: str = ""
    instance_id: str = ""
    endpoint: str = ""
    pid: int = 0
    host: str = ""

    @classmethod
    def from_payload(cls, raw: Any) -> Holder:
        raw = raw if isinstance(raw, dict) else {}
        return cls(str(raw.get("name") or ""), str(raw.get("instance_id") or ""),
                   str(raw.get("endpoint") or ""), int(raw.get("pid") or 0),
                   str(raw.get("host") or ""))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "instance_id": self.instance_id, "endpoint": self.endpoint,
                "pid": self.pid, "host": self.host}


@dataclass(slots=True)
class Lease:
    lease_id: str
    model: str
    requested_bytes: int
    want_bytes: int  # the effective estimate: requested, or corrected from earlier reports
    priority: int
    pinned: bool
    hosts: tuple[str, ...]
    holder: Holder
    created_at: float
    deadline_at: float  # queued past this, it is refused (reason deadline)
    state: LeaseState = S.QUEUED
    gpu: str = ""
    granted_bytes: int = 0
    reported_bytes: int = 0
    granted_at: float = 0.0
    last_used_at: float = 0.0
    last_keepalive_at: float = 0.0
    over_use: bool = False
    evict_backoff_until: float = 0.0  # a holder that ignored an unload is left alone until then
    evict_deadline: float = 0.0  # while EVICTING: when the eviction is abandoned
    announced: bool = False  # the requester was told "queued": a grant is pushed to it
    refused: bool = False
    reason: str = ""
    position: int = -1
    passed_over: int = 0  # later requests granted on a GPU it may use while it waited
    tier: Tier = Tier.COLD  # where its weights come from: its holder's RAM (warm) or disk
    resident_s: float = 0.0  # anti-thrash: once granted, not evicted for this long
    busy_s: float = 0.0  # used more recently than this, it is busy: not evicted

    @property
    def committed_bytes(self) -> int:
        if self.state not in ACTIVE:
            return 0
        return max(self.granted_bytes, self.reported_bytes)

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL

    def decision(self) -> Decision:
        if self.refused:
            return Decision.REFUSED
        if self.state in ACTIVE:
            return Decision.GRANTED
        if self.state is S.QUEUED:
            return Decision.QUEUED
        return Decision.ENDED

    def view(self, now: float) -> dict[str, Any]:
        host, _, index = self.gpu.rpartition(":")
        queued = self.state is S.QUEUED
        return {"lease_id": self.lease_id, "status": self.decision().value,
                "state": self.state.value, "model": self.model,
                "vram_mb": round((self.committed_bytes or self.want_bytes) / MIB, 1),
                "requested_mb": round(self.requested_bytes / MIB, 1),
                "granted_mb": round(self.granted_bytes / MIB, 1),
                "priority": self.priority, "pinned": self.pinned, "gpu": self.gpu or None,
                "host": host or None, "gpu_index": int(index) if index else None,
                "position": self.position if queued else None,
                "reason": self.reason or None, "holder": self.holder.as_dict(),
                "idle_s": round(max(0.0, now - self.last_used_at), 3),
                "reported_mb": round(self.reported_bytes / MIB, 1),
                "over_use": self.over_use, "tier": self.tier.value,
                "waited_s": round(now - self.created_at, 3) if queued else None,
                "deadline_in_s": round(self.deadline_at - now, 3) if queued else None,
                "passed_over": self.passed_over if queued else None}
