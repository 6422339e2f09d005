"""The VRAM pool: leases, the queue, eviction and reconciliation, as plain state.

No sockets and no threads: the ModelManagerAgent calls these methods from its loop thread and
turns :attr:`VramPool.notices` into messages to holders; the benchmark drives the same class
with a virtual clock.  Invariants: a grant is made only when the GPU's committed bytes plus the
grant stay within its capacity minus the reserve; no request stays queued past its deadline;
victims are asked to unload only when together they make the request fit, and only while its
deadline leaves them ``evict_timeout_s`` to do it.  Who goes first: admission.py; who is
evicted: placement.py.  A holder that unloads may keep its weights in host RAM (the warm tier,
warm.py, within each host's budget): the model's next lease loads from there, placed on that
host's GPUs first.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from common.base_agent.metrics import PlainHistogram
from common.vram.protocol import (
    NOTICE_DROP_WARM,
    NOTICE_GRANTED,
    NOTICE_UNLOAD,
    LeaseState,
    Reason,
    Tier,
)
from main_pc.model_manager.admission import (
    capped_estimate,
    deadline_reason,
    hold_slot,
    note_pass_over,
    queue_order,
    refusal,
    waiting_reason,
)
from main_pc.model_manager.estimates import EstimateBook
from main_pc.model_manager.evictions import Pending, abandon, ask_to_unload
from main_pc.model_manager.lease import ACTIVE, Holder, Lease, transition
from main_pc.model_manager.placement import allowed_slots, pick_fit, plan_eviction
from main_pc.model_manager.policy import GpuSlot, Policy
from main_pc.model_manager.tiers import TierBook
from main_pc.model_manager.warm import WarmCopy

WAIT_BUCKETS_S = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

__all__ = ["Notice", "VramPool"]

log = logging.getLogger(__name__)
S = LeaseState
ENDED_KEPT = 512  # ended leases remembered, so a late poll learns how its lease ended
MAX_LEASES = 4096  # live leases (granted and queued) the pool holds at most
RECENT_EVICTIONS = 32  # the last evictions, named, for the hub's incident history


@dataclass(slots=True)
class Notice:
    action: str  # NOTICE_UNLOAD or NOTICE_GRANTED (of lease), NOTICE_DROP_WARM (of copy)
    lease: Lease | None = None
    copy: WarmCopy | None = None


class VramPool:
    def __init__(self, slots: Sequence[GpuSlot], policy: Policy | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 warm_budgets: dict[str, int] | None = None) -> None:
        """warm_budgets: host -> bytes of RAM the warm tier may use there (none: no tier)."""
        self.slots = list(slots)
        self.by_gpu = {s.gpu: s for s in self.slots}
        self.policy = policy = policy or Policy()
        self.clock = clock
        self.leases: dict[str, Lease] = {}  # live leases, queued ones included
        self.ended: OrderedDict[str, Lease] = OrderedDict()
        self.pending: dict[str, Pending] = {}  # request lease_id -> its eviction
        self.estimates = EstimateBook(policy.estimate_margin, policy.unknown_margin)
        self.tiers = TierBook(self.slots, policy, warm_budgets or {})
        self.notices: list[Notice] = []
        self.counters: Counter[str] = Counter()
        self.queue_wait = PlainHistogram(WAIT_BUCKETS_S)
        self.recent_evictions: deque[dict[str, Any]] = deque(maxlen=RECENT_EVICTIONS)
        self.peak_committed = {s.gpu: 0 for s in self.slots}
        self._ids = itertools.count(1)

    # -- requests ----------------------------------------------------------------------------
    def acquire(self, model: str, requested_bytes: int, *, priority: int = 0,
                pinned: bool = False, hosts: Iterable[str] = (), holder: Holder | None = None,
                wait: bool = True, deadline_s: float | None = None) -> Lease:
        """deadline_s: how long the request may stay queued (None: the policy's)."""
        now = self.tick()
        deadline_s = self.policy.queue_deadline_s if deadline_s is None else deadline_s
        lease = Lease(f"L{next(self._ids)}-{model}", model, requested_bytes,
                      self.estimates.effective(model, requested_bytes), priority, pinned,
                      tuple(hosts), holder or Holder(), now, now + deadline_s, last_used_at=now,
                      last_keepalive_at=now)
        if model in self.tiers.warm.copies:
            lease.tier = Tier.WARM
        lease.want_bytes = capped_estimate(lease, allowed_slots(self.slots, lease.hosts),
                                           self._free(), self._on_gpu(), now, self.policy)
        queued = sum(le.state is S.QUEUED for le in self.leases.values())
        refused = refusal(lease, self.slots, len(self.leases) >= MAX_LEASES,
                          queued >= self.policy.max_queue)
        if refused is not None:
            return self._refuse(lease, refused)
        self.leases[lease.lease_id] = lease
        self._pump(now)
        if lease.state is S.QUEUED and not wait and lease.lease_id not in self.pending:
            self._end(lease, S.CANCELLED)
            return self._refuse(lease, Reason.NO_ROOM)
        if lease.state is S.QUEUED:
            lease.announced = True
            self.counters["queued"] += 1
        return lease

    def release(self, lease_id: str, warm_bytes: int = 0) -> tuple[Lease, bool]:
        """-> (the lease, whether its holder keeps the weights it offered in RAM)."""
        lease = self.get(lease_id)
        warm = False
        if not lease.ended:
            if warm_bytes > 0 and lease.state in ACTIVE:
                warm = self._keep_warm(lease, warm_bytes)
            self._end(lease, S.CANCELLED if lease.state is S.QUEUED else S.RELEASED)
            self._pump(self.clock())
        return lease, warm

    def keepalive(self, lease_id: str, *, used: bool = False, uses: int = 1) -> Lease:
        now = self.tick()
        lease = self.get(lease_id)
        if not lease.ended:
            lease.last_keepalive_at = now
            if used:
                lease.last_used_at = now
                self.tiers.costs.used(lease.model, uses, now)
        return lease

    def report(self, lease_id: str, used_bytes: int, *, load_s: float | None = None,
               tier: Tier | None = None) -> Lease:
        """The holder's measured use after loading: reconcile, flag over-use, learn; and how
        long the load from tier took."""
        now = self.tick()
        lease = self.get(lease_id)
        if lease.state not in ACTIVE:
            return lease
        if load_s is not None and tier in (Tier.WARM, Tier.COLD):
            self.tiers.costs.loaded(lease.model, tier, load_s)
            self.tiers.protect(lease)
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
        self.tiers.warm.drop_holder(instance_id=instance_id, host=host, pid=pid)
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
            abandon(lease, now, self.policy)
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
        """Queued requests in the order they are considered (admission.queue_order)."""
        now = self.clock() if now is None else now
        return queue_order((le for le in self.leases.values() if le.state is S.QUEUED), now,
                           self.policy.aging_s)

    def tier_bytes(self) -> dict[str, dict[str, int]]:
        """Bytes per host in each tier (TierBook.bytes_by_host)."""
        return self.tiers.bytes_by_host(self.leases.values())

    def tier_of(self, model: str) -> Tier:
        return self.tiers.tier_of(model, self.leases.values())

    def _keep_warm(self, lease: Lease, size_bytes: int) -> bool:
        dropped = self.tiers.keep_warm(lease, int(size_bytes), self.clock())
        if dropped is None:
            return False
        self.notices.extend(Notice(NOTICE_DROP_WARM, copy=c) for c in dropped)
        self.counters["warm_kept"] += 1
        self.counters["warm_dropped"] += len(dropped)
        return True

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
        """Refuse the overdue; then, in queue order, grant each request that fits, or start
        evictions that make it fit; a request passed over too often holds its room."""
        self._refuse_overdue(now)
        free = self._free()
        self._finish_pending(free, now)
        evicting = {p.gpu for p in self.pending.values()}  # one eviction per GPU at a time
        ahead: list[Lease] = []  # waiting, earlier in the order: later grants pass them over
        allowed: dict[str, set[str]] = {}
        for lease in self.queue(now):
            if lease.lease_id in self.pending:
                continue
            slots = allowed_slots(self.slots, lease.hosts)
            allowed[lease.lease_id] = {s.gpu for s in slots}
            slot = self._place(lease, slots, free, evicting, now)
            if slot is None:
                ahead.append(lease)
                self._wait(lease, slots, free)
                continue
            free[slot.gpu] -= lease.want_bytes
            for due in note_pass_over(ahead, slot.gpu, allowed, self.policy.max_pass_over):
                self._wait(due, allowed_slots(self.slots, due.hosts), free)
        for position, lease in enumerate(self.queue(now)):
            lease.position = position

    def _place(self, lease: Lease, slots: list[GpuSlot], free: dict[str, int],
               evicting: set[str], now: float) -> GpuSlot | None:
        """Grant lease where it fits, else start the evictions that make it fit.  A warm model
        tries its own host first (both ways), and another host only once it has waited longer
        than loading from disk there would add: elsewhere, it loads from disk."""
        stages = [slots]
        home = self.tiers.warm_home(lease)
        if home is not None:
            at_home = [s for s in slots if s.host == home]
            waited = now - lease.created_at
            stages = [at_home] if waited < self.tiers.disk_penalty_s(lease) else [at_home, slots]
        for stage in stages:
            slot = pick_fit(lease.want_bytes, stage, free)
            if slot is not None:
                self._grant(lease, slot, now)
                return slot
            slot = self._try_evict(lease, [s for s in stage if s.gpu not in evicting], free, now)
            if slot is not None:
                evicting.add(slot.gpu)
                return slot
        return None

    def _try_evict(self, lease: Lease, slots: list[GpuSlot], free: dict[str, int],
                   now: float) -> GpuSlot | None:
        """Start the evictions that make lease fit, if any do and its deadline leaves the
        victims their evict_timeout_s (never evict for a request that cannot complete)."""
        if lease.deadline_at - now < self.policy.evict_timeout_s:
            return None
        plan = plan_eviction(lease, slots, free, self._on_gpu(), now, self.policy,
                             lambda victim: self.tiers.eviction_cost(victim, now))
        if plan is None:
            return None
        slot, victims = plan
        self.pending[lease.lease_id] = ask_to_unload(lease, slot, victims, now, self.policy)
        self.notices.extend(Notice(NOTICE_UNLOAD, victim) for victim in victims)
        for victim in victims:
            self.counters["evictions"] += 1
            self.recent_evictions.append({"n": self.counters["evictions"], "model": victim.model,
                                          "gpu": slot.gpu, "for": lease.model})
        return slot

    def _wait(self, lease: Lease, slots: list[GpuSlot], free: dict[str, int]) -> None:
        """lease stays queued; once passed over too often, it holds its room on a GPU."""
        held = None
        if lease.passed_over >= self.policy.max_pass_over:
            held = hold_slot(lease, slots, free, self._on_gpu(), self.clock(), self.policy)
        if held is None:
            lease.reason = waiting_reason(lease, slots, free, self._on_gpu(), self.clock(),
                                          self.policy)
            return
        free[held.gpu] -= lease.want_bytes
        lease.reason = (f"{Reason.HOLDING.value} on {held.gpu} (passed over "
                        f"{lease.passed_over} times)")

    def _refuse_overdue(self, now: float) -> None:
        overdue = [le for le in self.leases.values()
                   if le.state is S.QUEUED and now >= le.deadline_at]
        if not overdue:
            return
        free, on_gpu = self._free(), self._on_gpu()
        for lease in overdue:
            self._refuse(lease, Reason.DEADLINE)
            lease.reason = deadline_reason(lease, allowed_slots(self.slots, lease.hosts), free,
                                           on_gpu, now, self.policy)
            self._end(lease, S.REFUSED)
            log.warning("refused %s (%s): %s", lease.lease_id, lease.holder.name or "holder",
                        lease.reason)

    def _finish_pending(self, free: dict[str, int], now: float) -> None:
        for lease_id, pending in list(self.pending.items()):
            lease = self.leases[lease_id]
            if free[pending.gpu] >= 0:  # its room, held since the eviction began, is free
                del self.pending[lease_id]
                self._grant(lease, self.by_gpu[pending.gpu], now)

    def _grant(self, lease: Lease, slot: GpuSlot, now: float) -> None:
        transition(lease, S.GRANTED)
        lease.gpu, lease.granted_bytes = slot.gpu, lease.want_bytes
        self.tiers.granted(lease, slot.gpu)
        lease.granted_at = lease.last_used_at = lease.last_keepalive_at = now
        lease.reason = ""
        self.counters["granted"] += 1
        self.queue_wait.observe(now - lease.created_at)
        self._note_peak(slot.gpu)
        if lease.announced:
            self.notices.append(Notice(NOTICE_GRANTED, lease))

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

    def _refuse(self, lease: Lease, reason: Reason) -> Lease:
        lease.refused, lease.reason = True, reason.value
        self.counters[f"refused_{reason.value}"] += 1
        return lease

    def _note_peak(self, gpu: str) -> None:
        committed = self.committed()[gpu]
        self.peak_committed[gpu] = max(self.peak_committed[gpu], committed)
