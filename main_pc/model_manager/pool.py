"""The VRAM pool: leases, the queue, eviction and reconciliation, as plain state.

No sockets and no threads: the ModelManagerAgent calls these methods from its loop thread and
turns :attr:`VramPool.notices` into messages to holders; the benchmark drives the same class
with a virtual clock.  Invariant: a grant is made only when the GPU's committed bytes plus the
grant stay within its capacity minus the reserve.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from common.base_agent.metrics import PlainHistogram
from common.vram.protocol import NOTICE_GRANTED, NOTICE_UNLOAD, LeaseState, Reason
from main_pc.model_manager.estimates import EstimateBook
from main_pc.model_manager.lease import ACTIVE, Holder, Lease, transition
from main_pc.model_manager.placement import allowed_slots, pick_fit, plan_eviction
from main_pc.model_manager.policy import GpuSlot, Policy

WAIT_BUCKETS_S = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

__all__ = ["Notice", "VramPool"]

log = logging.getLogger(__name__)
S = LeaseState
ENDED_KEPT = 512  # ended leases remembered, so a late poll learns how its lease ended
MAX_LEASES = 4096  # live leases (granted and queued) the pool holds at most


@dataclass(slots=True)
class Notice:
    action: str  # NOTICE_UNLOAD or NOTICE_GRANTED
    lease: Lease


@dataclass(slots=True)
class Pending:
    """A queued request for which victims were asked to unload; its room is held on gpu."""

    gpu: str
    victims: tuple[str, ...]


class VramPool:
    def __init__(self, slots: Sequence[GpuSlot], policy: Policy | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.slots = list(slots)
        self.by_gpu = {s.gpu: s for s in self.slots}
        self.policy = policy = policy or Policy()
        self.clock = clock
        self.leases: dict[str, Lease] = {}  # live leases, queued ones included
        self.ended: OrderedDict[str, Lease] = OrderedDict()
        self.pending: dict[str, Pending] = {}  # request lease_id -> its eviction
        self.estimates = EstimateBook(policy.estimate_margin, policy.unknown_margin)
        self.notices: list[Notice] = []
        self.counters: Counter[str] = Counter()
        self.queue_wait = PlainHistogram(WAIT_BUCKETS_S)
        self.peak_committed = {s.gpu: 0 for s in self.slots}
        self._ids = itertools.count(1)

    # -- requests ----------------------------------------------------------------------------
    def acquire(self, model: str, requested_bytes: int, *, priority: int = 0,
                pinned: bool = False, hosts: Iterable[str] = (), holder: Holder | None = None,
                wait: bool = True) -> Lease:
        now = self.tick()
        lease = Lease(f"L{next(self._ids)}-{model}", model, requested_bytes,
                      self.estimates.effective(model, requested_bytes), priority, pinned,
                      tuple(hosts), holder or Holder(), now, last_used_at=now,
                      last_keepalive_at=now)
        refusal = self._refusal(lease)
        if refusal is not None:
            return self._refuse(lease, refusal)
        self.leases[lease.lease_id] = lease
        self._pump(now)
        if lease.state is S.QUEUED and not wait and lease.lease_id not in self.pending:
            self._end(lease, S.CANCELLED)
            return self._refuse(lease, Reason.NO_ROOM)
        if lease.state is S.QUEUED:
            lease.announced = True
            self.counters["queued"] += 1
        return lease

    def release(self, lease_id: str) -> Lease:
        lease = self.get(lease_id)
        if not lease.ended:
            self._end(lease, S.CANCELLED if lease.state is S.QUEUED else S.RELEASED)
            self._pump(self.clock())
        return lease

    def keepalive(self, lease_id: str, *, used: bool = False) -> Lease:
        now = self.tick()
        lease = self.get(lease_id)
        if not lease.ended:
            lease.last_keepalive_at = now
            if used:
                lease.last_used_at = now
        return lease

    def report(self, lease_id: str, used_bytes: int) -> Lease:
        """The holder's measured use after loading: reconcile, flag over-use, learn."""
        now = self.tick()
        lease = self.get(lease_id)
        if lease.state not in ACTIVE:
            return lease
        lease.reported_bytes = int(used_bytes)
        lease.last_keepalive_at = now
        if lease.state is S.GRANTED:
            transition(lease, S.LOADED)
        self.estimates.learn(lease.model, used_bytes)
        limit = lease.granted_bytes * (1.0 + self.policy.over_use_tolerance)
        if used_bytes > limit and not lease.over_use:
            lease.over_use = True
            self.counters["over_use"] += 1
            log.warning("over-use: %s (%s) uses %d MB, granted %d MB on %s", lease.lease_id,
                        lease.model, used_bytes >> 20, lease.granted_bytes >> 20, lease.gpu)
        # measured: commit what it uses plus the margin (never more than granted: a grant
        # only shrinks, so the grant-time invariant keeps holding)
        lease.granted_bytes = min(lease.granted_bytes,
                                  int(used_bytes * (1.0 + self.policy.estimate_margin)))
        self._note_peak(lease.gpu)
        self._pump(now)
        return lease

    def reclaim(self, *, instance_id: str = "", host: str = "", pid: int = 0,
                reason: str = "holder exited") -> list[str]:
        """End every lease of a dead holder (by registry instance id, or host and pid)."""
        gone = [le for le in self.leases.values()
                if (instance_id and le.holder.instance_id == instance_id)
                or (pid and le.holder.pid == pid and le.holder.host == host)]
        for lease in gone:
            lease.reason = reason
            self._end(lease, S.RECLAIMED)
        if gone:
            self._pump(self.clock())
        return [le.lease_id for le in gone]

    def get(self, lease_id: str) -> Lease:
        lease = self.leases.get(lease_id) or self.ended.get(lease_id)
        if lease is None:
            raise KeyError(lease_id)
        return lease

    # -- time --------------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> float:
        """Expire silent leases, abandon overdue evictions, grant what now fits."""
        now = self.clock() if now is None else now
        ttl = self.policy.keepalive_ttl_s
        for lease in [le for le in self.leases.values() if now - le.last_keepalive_at > ttl]:
            lease.reason = f"no keepalive for {ttl:g} s"
            self._end(lease, S.EXPIRED)
        for lease in [le for le in self.leases.values()
                      if le.state is S.EVICTING and now >= le.evict_deadline]:
            log.warning("%s did not release %s within %g s; eviction abandoned",
                        lease.holder.name or "holder", lease.lease_id,
                        self.policy.evict_timeout_s)
            transition(lease, S.LOADED)
            lease.evict_backoff_until = now + self.policy.evict_backoff_s
            self.counters["eviction_timeouts"] += 1
            self._drop_pending_with(lease.lease_id)
        self._pump(now)
        return now

    # -- accounting --------------------------------------------------------------------------
    def committed(self) -> dict[str, int]:
        out = dict.fromkeys(self.by_gpu, 0)
        for lease in self.leases.values():
            if lease.state in ACTIVE:
                out[lease.gpu] += lease.committed_bytes
        return out

    def queue(self, now: float | None = None) -> list[Lease]:
        """Queued requests in grant order: priority aged by waiting time, then arrival."""
        now = self.clock() if now is None else now
        aging = self.policy.aging_s
        waiting = [le for le in self.leases.values() if le.state is S.QUEUED]
        return sorted(waiting, key=lambda le: (-(le.priority + (now - le.created_at) / aging),
                                               le.created_at))

    def _free(self) -> dict[str, int]:
        free = {g: self.by_gpu[g].usable_bytes - c for g, c in self.committed().items()}
        for lease_id, pending in self.pending.items():
            free[pending.gpu] -= self.leases[lease_id].want_bytes
        return free

    def _on_gpu(self) -> dict[str, list[Lease]]:
        out: dict[str, list[Lease]] = {}
        for lease in self.leases.values():
            if lease.state in ACTIVE:
                out.setdefault(lease.gpu, []).append(lease)
        return out

    # -- the decisions -----------------------------------------------------------------------
    def _pump(self, now: float) -> None:
        """Grant, in queue order, every request that fits; start evictions for the others."""
        free = self._free()
        self._finish_pending(free, now)
        blocked = {p.gpu for p in self.pending.values()}
        order = self.queue(now)
        for position, lease in enumerate(order):
            lease.position = position
        for lease in order:
            if lease.lease_id in self.pending:
                continue
            slots = [s for s in allowed_slots(self.slots, lease.hosts) if s.gpu not in blocked]
            slot = pick_fit(lease.want_bytes, slots, free)
            if slot is not None:
                free[slot.gpu] -= lease.want_bytes
                self._grant(lease, slot, now)
                continue
            plan = plan_eviction(lease, slots, free, self._on_gpu(), now, self.policy)
            if plan is not None:
                free[plan[0].gpu] -= lease.want_bytes
                blocked.add(plan[0].gpu)
                self._evict(lease, plan[0], plan[1], now)
                continue
            lease.reason = Reason.WAITING.value
            if now - lease.created_at >= self.policy.starvation_s:
                blocked.update(s.gpu for s in slots)  # no backfill past a starving request
        for position, lease in enumerate(self.queue(now)):
            lease.position = position

    def _finish_pending(self, free: dict[str, int], now: float) -> None:
        for lease_id, pending in list(self.pending.items()):
            lease = self.leases[lease_id]
            if free[pending.gpu] >= 0:  # its room, held since the eviction began, is free
                del self.pending[lease_id]
                self._grant(lease, self.by_gpu[pending.gpu], now)

    def _grant(self, lease: Lease, slot: GpuSlot, now: float) -> None:
        transition(lease, S.GRANTED)
        lease.gpu, lease.granted_bytes = slot.gpu, lease.want_bytes
        lease.granted_at = lease.last_used_at = lease.last_keepalive_at = now
        lease.reason = ""
        self.counters["granted"] += 1
        self.queue_wait.observe(now - lease.created_at)
        self._note_peak(slot.gpu)
        if lease.announced:
            self.notices.append(Notice(NOTICE_GRANTED, lease))

    def _evict(self, request: Lease, slot: GpuSlot, victims: list[Lease], now: float) -> None:
        for victim in victims:
            transition(victim, S.EVICTING)
            victim.evict_deadline = now + self.policy.evict_timeout_s
            victim.reason = f"{Reason.PRIORITY.value} by {request.model} ({request.lease_id})"
            self.notices.append(Notice(NOTICE_UNLOAD, victim))
        self.counters["evictions"] += len(victims)
        self.pending[request.lease_id] = Pending(slot.gpu, tuple(v.lease_id for v in victims))
        request.reason = f"{Reason.EVICTING.value} {len(victims)} lease(s) on {slot.gpu}"
        log.info("evicting %s on %s for %s", [v.lease_id for v in victims], slot.gpu,
                 request.lease_id)

    def _drop_pending_with(self, victim_id: str) -> None:
        for lease_id, pending in list(self.pending.items()):
            if victim_id in pending.victims:
                del self.pending[lease_id]
                self.leases[lease_id].reason = Reason.WAITING.value

    def _end(self, lease: Lease, state: LeaseState) -> None:
        transition(lease, state)
        self.leases.pop(lease.lease_id, None)
        self.pending.pop(lease.lease_id, None)
        self.ended[lease.lease_id] = lease
        while len(self.ended) > ENDED_KEPT:
            self.ended.popitem(last=False)
        self.counters[state.value] += 1

    def _refusal(self, lease: Lease) -> Reason | None:
        known = {s.host for s in self.slots}
        if any(h not in known for h in lease.hosts) or not allowed_slots(self.slots,
                                                                         lease.hosts):
            return Reason.UNKNOWN_HOST
        if lease.want_bytes > max(s.usable_bytes for s in allowed_slots(self.slots,
                                                                         lease.hosts)):
            return Reason.TOO_LARGE
        if len(self.leases) >= MAX_LEASES:  # tiny leases could otherwise pile up without bound
            return Reason.TOO_MANY
        if sum(le.state is S.QUEUED for le in self.leases.values()) >= self.policy.max_queue:
            return Reason.QUEUE_FULL
        return None

    def _refuse(self, lease: Lease, reason: Reason) -> Lease:
        lease.refused, lease.reason = True, reason.value
        self.counters[f"refused_{reason.value}"] += 1
        return lease

    def _note_peak(self, gpu: str) -> None:
        committed = self.committed()[gpu]
        self.peak_committed[gpu] = max(self.peak_committed[gpu], committed)
