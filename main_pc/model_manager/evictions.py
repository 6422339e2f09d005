"""Evictions under way: the request each one serves, and abandoning a holder that does not
release in time.  The pool keeps the :class:`Pending` records and holds each one's room."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from common.vram.protocol import LeaseState, Reason
from main_pc.model_manager.lease import Lease, transition
from main_pc.model_manager.policy import GpuSlot, Policy

__all__ = ["Pending", "abandon", "ask_to_unload"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Pending:
    """A queued request for which victims were asked to unload; its room is held on gpu."""

    gpu: str
    victims: tuple[str, ...]


def ask_to_unload(request: Lease, slot: GpuSlot, victims: list[Lease], now: float,
                  policy: Policy) -> Pending:
    """Move victims to EVICTING with their deadline; the caller sends them the notices."""
    for victim in victims:
        transition(victim, LeaseState.EVICTING)
        victim.evict_deadline = now + policy.evict_timeout_s
        victim.reason = f"{Reason.PRIORITY.value} by {request.model} ({request.lease_id})"
    request.reason = f"{Reason.EVICTING.value} {len(victims)} lease(s) on {slot.gpu}"
    log.info("evicting %s on %s for %s", [v.lease_id for v in victims], slot.gpu,
             request.lease_id)
    return Pending(slot.gpu, tuple(v.lease_id for v in victims))


def abandon(victim: Lease, now: float, policy: Policy) -> None:
    """The holder did not release within evict_timeout_s: it keeps the lease, left alone for
    evict_backoff_s."""
    log.warning("%s did not release %s within %g s; eviction abandoned",
                victim.holder.name or "holder", victim.lease_id, policy.evict_timeout_s)
    transition(victim, LeaseState.LOADED)
    victim.evict_backoff_until = now + policy.evict_backoff_s
