"""Where a request goes: a GPU where it fits now, or one where evicting idle leases makes room.

Who may be evicted: never a pinned lease, nor one of higher priority than the request's
priority aged by its wait (one level per ``aging_s``, as in the queue's order, so a waiting
request is not starved for ever by busier, higher-priority ones).  Among those, the victims are
the ones whose eviction costs least: by expected cost (``eviction: cost``; its use rate times
its reload time from the tier it would go to, costs.py), or least recently used first
(``eviction: lru``), lower priorities always before higher.
Pure functions over the pool's state; the pool applies what they choose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from common.vram.protocol import LeaseState
from main_pc.model_manager.lease import Lease
from main_pc.model_manager.policy import GpuSlot, Policy

__all__ = ["aged_priority", "allowed_slots", "evictable", "never_evictable", "not_evictable_now",
           "pick_fit", "plan_eviction"]

Cost = Callable[[Lease], float]  # what evicting a lease is expected to cost


def allowed_slots(slots: Sequence[GpuSlot], hosts: Sequence[str]) -> list[GpuSlot]:
    """The GPUs a request may use, in its order of preference (hosts listed first)."""
    if not hosts:
        return list(slots)
    rank = {h: i for i, h in enumerate(hosts)}
    return sorted((s for s in slots if s.host in rank), key=lambda s: (rank[s.host], s.index))


def pick_fit(want_bytes: int, slots: Iterable[GpuSlot],
             free: Mapping[str, int]) -> GpuSlot | None:
    """The first allowed GPU (preference order) with room now."""
    for slot in slots:
        if free[slot.gpu] >= want_bytes:
            return slot
    return None


def aged_priority(request: Lease, now: float, policy: Policy) -> float:
    """The request's priority plus one level per aging_s it has waited."""
    return request.priority + max(0.0, now - request.created_at) / policy.aging_s


def never_evictable(lease: Lease, request: Lease, now: float, policy: Policy) -> str:
    """Why lease cannot be evicted for request as of now ("" if it can, once idle)."""
    if lease.pinned:
        return "pinned"
    if not lease.holder.endpoint:
        return "no holder endpoint"
    wants = aged_priority(request, now, policy)
    if lease.priority > wants or (
            lease.priority == wants and not policy.evict_equal_priority):
        return f"priority {lease.priority}"
    return ""


def not_evictable_now(lease: Lease, request: Lease, now: float, policy: Policy) -> str:
    """Why lease may not be evicted for request now ("" if it may)."""
    why = never_evictable(lease, request, now, policy)
    if why or lease.state not in (LeaseState.GRANTED, LeaseState.LOADED):
        return why or lease.state.value
    if now < lease.evict_backoff_until:
        return "ignored an unload"
    if lease.state is LeaseState.GRANTED and now - lease.granted_at < policy.load_grace_s:
        return "loading"
    if now - lease.last_used_at < lease.busy_s:
        return "busy"
    if now - lease.granted_at < lease.resident_s:
        return "just granted"
    return ""


def evictable(lease: Lease, request: Lease, now: float, policy: Policy) -> bool:
    """May lease be evicted to make room for request?"""
    return not not_evictable_now(lease, request, now, policy)


def plan_eviction(request: Lease, slots: Iterable[GpuSlot], free: Mapping[str, int],
                  on_gpu: Mapping[str, list[Lease]], now: float, policy: Policy,
                  cost: Cost) -> tuple[GpuSlot, list[Lease]] | None:
    """The GPU and the victims that make request fit there at the least cost."""
    by_cost = policy.eviction == "cost"
    best: tuple[tuple[float, ...], GpuSlot, list[Lease]] | None = None
    for slot in slots:
        short = request.want_bytes - free[slot.gpu]
        candidates = sorted((le for le in on_gpu.get(slot.gpu, ())
                             if evictable(le, request, now, policy)),
                            key=lambda le: (le.priority, cost(le) if by_cost else 0.0,
                                            le.last_used_at))
        victims, gained = [], 0
        for lease in candidates:
            if gained >= short:
                break
            victims.append(lease)
            gained += lease.committed_bytes
        if gained < short:
            continue
        size = (len(victims), sum(v.committed_bytes for v in victims))
        rank = (max(v.priority for v in victims), sum(map(cost, victims)), *size) \
            if by_cost else size
        if best is None or rank < best[0]:
            best = (rank, slot, victims)
    return None if best is None else (best[1], best[2])
