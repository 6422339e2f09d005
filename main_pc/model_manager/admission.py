"""The queue's admission order: who is considered first, who may pass whom, who is refused.

Order: priority aged by waiting time (one level per ``aging_s``), then arrival.  A queued
request that does not fit is passed over by later ones that do, so a big request at the head
never blocks small ones behind it (no head-of-line blocking); but only ``max_pass_over`` times.
After that it holds the room it needs on the GPU where it is nearest to fitting: later requests
are granted there only from room beyond it, so it is not starved either.  A request that could
never fit there (pinned or higher-priority leases hold the rest) holds nothing.  Whatever it
waits for, a request not granted by its deadline is refused with reason ``deadline``, naming
what held the room.  Pure functions over the pool's state; the pool applies what they decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from common.gpu.backend import MIB
from common.vram.protocol import Reason
from main_pc.model_manager.lease import Lease
from main_pc.model_manager.placement import allowed_slots, never_evictable, not_evictable_now
from main_pc.model_manager.policy import GpuSlot, Policy

__all__ = ["blockers", "capped_estimate", "deadline_reason", "hold_slot", "note_pass_over",
           "queue_order", "refusal", "waiting_reason"]

BLOCKERS_NAMED = 3  # leases named in a deadline refusal


def refusal(request: Lease, slots: Sequence[GpuSlot], too_many: bool,
            queue_full: bool) -> Reason | None:
    """Why request is refused at the door, if it is (a place it cannot ever have, or no room
    left to remember it: tiny leases could otherwise pile up without bound)."""
    allowed = allowed_slots(slots, request.hosts)
    if not allowed or any(h not in {s.host for s in slots} for h in request.hosts):
        return Reason.UNKNOWN_HOST
    if request.want_bytes > max(s.usable_bytes for s in allowed):
        return Reason.TOO_LARGE
    if too_many:
        return Reason.TOO_MANY
    if queue_full:
        return Reason.QUEUE_FULL
    return None


def queue_order(waiting: Iterable[Lease], now: float, aging_s: float) -> list[Lease]:
    """Queued requests in the order they are considered: aged priority, then arrival."""
    return sorted(waiting, key=lambda le: (-(le.priority + (now - le.created_at) / aging_s),
                                           le.created_at))


def note_pass_over(ahead: Iterable[Lease], gpu: str, allowed: Mapping[str, set[str]],
                   bound: int) -> list[Lease]:
    """A later request took room on gpu: count it against each waiting one that may use gpu;
    -> those that reach the bound now (they hold their room from here on)."""
    due = []
    for lease in ahead:
        if gpu in allowed[lease.lease_id]:
            lease.passed_over += 1
            if lease.passed_over == bound:
                due.append(lease)
    return due


def _reachable(request: Lease, slot: GpuSlot, free: Mapping[str, int],
               on_gpu: Mapping[str, list[Lease]], now: float, policy: Policy) -> int:
    """Room request could get on slot: free now plus what may be evicted for it (once idle)."""
    return free[slot.gpu] + sum(le.committed_bytes for le in on_gpu.get(slot.gpu, ())
                                if not never_evictable(le, request, now, policy))


def capped_estimate(request: Lease, slots: Sequence[GpuSlot], free: Mapping[str, int],
                    on_gpu: Mapping[str, list[Lease]], now: float, policy: Policy) -> int:
    """The bytes to ask for: the estimate, but the headroom added to a declared size never
    makes a request impossible that its declared size would fit (the reserve absorbs a first
    load's over-use, and its report corrects the lease)."""
    reach = max((_reachable(request, s, free, on_gpu, now, policy) for s in slots), default=0)
    if request.requested_bytes <= reach < request.want_bytes:
        return reach
    return request.want_bytes


def hold_slot(request: Lease, slots: Sequence[GpuSlot], free: Mapping[str, int],
              on_gpu: Mapping[str, list[Lease]], now: float, policy: Policy) -> GpuSlot | None:
    """Where a request passed over too often holds its room: the GPU with the most free room
    among those where it could fit; None if it could fit on none."""
    could = [s for s in slots if _reachable(request, s, free, on_gpu, now, policy)
             >= request.want_bytes]
    return max(could, key=lambda s: free[s.gpu], default=None)


def deadline_reason(request: Lease, slots: Sequence[GpuSlot], free: Mapping[str, int],
                    on_gpu: Mapping[str, list[Lease]], now: float, policy: Policy) -> str:
    """Why request was not granted by its deadline (see blockers)."""
    return (f"{Reason.DEADLINE.value}: not granted within "
            f"{request.deadline_at - request.created_at:g} s; "
            f"{blockers(request, slots, free, on_gpu, now, policy)}")


def waiting_reason(request: Lease, slots: Sequence[GpuSlot], free: Mapping[str, int],
                   on_gpu: Mapping[str, list[Lease]], now: float, policy: Policy) -> str:
    """Why request still waits (see blockers): what its callers are told while it queues."""
    return f"{Reason.WAITING.value}: {blockers(request, slots, free, on_gpu, now, policy)}"


def blockers(request: Lease, slots: Sequence[GpuSlot], free: Mapping[str, int],
             on_gpu: Mapping[str, list[Lease]], now: float, policy: Policy) -> str:
    """Request's best GPU's free room and the leases holding the rest, with why each may not
    be evicted for it."""
    if not slots:
        return "no allowed GPU"
    best = max(slots, key=lambda s: free[s.gpu])
    held = sorted(((le, not_evictable_now(le, request, now, policy))
                   for le in on_gpu.get(best.gpu, ())), key=lambda pair: -pair[0].committed_bytes)
    named = ", ".join(f"{le.model} ({le.committed_bytes / MIB:.0f} MB, {why or 'evictable'})"
                      for le, why in held[:BLOCKERS_NAMED])
    more = f" and {len(held) - BLOCKERS_NAMED} more" if len(held) > BLOCKERS_NAMED else ""
    return (f"needs {request.want_bytes / MIB:.0f} MB, {best.gpu} has "
            f"{max(0, free[best.gpu]) / MIB:.0f} MB free, held by {named or 'nothing'}{more}")
