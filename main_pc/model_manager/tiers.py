"""Where each model's weights are, and what moving them costs: the pool's view of its tiers.

Resident (a lease on a GPU), warm (a copy in its holder's host RAM: warm.py) or cold (on disk
only).  From the use rates and measured load times (costs.py) it answers what the pool asks:
what evicting a lease would cost, how long a fresh grant is protected from eviction, what a
warm model would lose by loading elsewhere, and which warm copy to drop when RAM is short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from common.vram.protocol import Tier
from main_pc.model_manager.costs import CostBook
from main_pc.model_manager.lease import ACTIVE, Lease
from main_pc.model_manager.policy import GpuSlot, Policy
from main_pc.model_manager.warm import WarmCopy, WarmTier

__all__ = ["TierBook"]


class TierBook:
    def __init__(self, slots: Sequence[GpuSlot], policy: Policy,
                 warm_budgets: dict[str, int]) -> None:
        self.host_of_gpu = {s.gpu: s.host for s in slots}
        self.policy = policy
        self.costs = CostBook(policy.usage_half_life_s, policy.warm_load_s_per_gb,
                              policy.cold_load_s_per_gb)
        self.warm = WarmTier(warm_budgets)
        self.homes: dict[str, tuple[str, int]] = {}  # model -> (its holder's host, its size)

    def home(self, lease: Lease, gpu: str) -> str:
        """The host whose RAM holds lease's warm copy: its holder's (where the pool knows it
        by name; run alone, a holder gives its address), else its GPU's."""
        if lease.holder.host in self.host_of_gpu.values():
            return lease.holder.host
        return self.host_of_gpu[gpu]

    # -- moves between tiers -----------------------------------------------------------------
    def keep_warm(self, lease: Lease, size_bytes: int, now: float) -> list[WarmCopy] | None:
        """Lease's holder offers its unloaded weights: -> the copies dropped to keep them, or
        None when the warm tier cannot take them (the holder drops them)."""
        copy = WarmCopy(lease.model, self.home(lease, lease.gpu), size_bytes, lease.holder, now)
        return self.warm.admit(copy, lambda c: self._drop_loss(c, now))

    def granted(self, lease: Lease, gpu: str) -> None:
        """Lease was granted on gpu: its warm copy, if any, goes back to the GPU (from RAM
        when the GPU is on the copy's host, else the model loads from disk)."""
        copy = self.warm.take(lease.model)
        host = self.host_of_gpu[gpu]
        lease.tier = Tier.WARM if copy is not None and copy.host == host else Tier.COLD
        self.homes[lease.model] = (self.home(lease, gpu), lease.want_bytes)
        self.protect(lease)

    def warm_home(self, lease: Lease) -> str | None:
        """The host keeping a queued warm lease's copy (None: not warm)."""
        copy = self.warm.copies.get(lease.model) if lease.tier is Tier.WARM else None
        return copy.host if copy is not None else None

    # -- costs -------------------------------------------------------------------------------
    def reload_s(self, lease: Lease) -> float:
        """How long lease's model would take to come back if evicted now: from RAM when the
        warm tier on its host could take it, else from disk."""
        size = lease.committed_bytes or lease.want_bytes
        tier = Tier.WARM if self.warm.fits(self.home(lease, lease.gpu), size) else Tier.COLD
        return self.costs.reload_s(lease.model, tier, size)

    def eviction_cost(self, lease: Lease, now: float) -> float:
        """What evicting lease costs: its use rate times its reload time."""
        return self.costs.rate(lease.model, now) * self.reload_s(lease)

    def disk_penalty_s(self, lease: Lease) -> float:
        """What loading lease's model from disk adds over loading it from RAM."""
        return (self.costs.reload_s(lease.model, Tier.COLD, lease.want_bytes)
                - self.costs.reload_s(lease.model, Tier.WARM, lease.want_bytes))

    def protect(self, lease: Lease) -> None:
        """Anti-thrash: a fresh grant stays min_resident_s and a lease used within min_idle_s
        is busy, each cut to a few of its reloads if sooner (a model back from RAM in 50 ms
        need not hold the GPU for seconds while another waits)."""
        cap = self.policy.min_resident_reloads * self.reload_s(lease)
        lease.resident_s = min(self.policy.min_resident_s, cap)
        lease.busy_s = min(self.policy.min_idle_s, cap)

    def _drop_loss(self, copy: WarmCopy, now: float) -> float:
        """What dropping a warm copy costs: its use rate times the extra reload from disk."""
        cold = self.costs.reload_s(copy.model, Tier.COLD, copy.size_bytes)
        warm = self.costs.reload_s(copy.model, Tier.WARM, copy.size_bytes)
        return self.costs.rate(copy.model, now) * max(0.0, cold - warm)

    # -- views -------------------------------------------------------------------------------
    def tier_of(self, model: str, leases: Iterable[Lease]) -> Tier:
        if model in self.warm.copies:
            return Tier.WARM
        if any(le.model == model and le.state in ACTIVE for le in leases):
            return Tier.RESIDENT
        return Tier.COLD

    def bytes_by_host(self, leases: Iterable[Lease]) -> dict[str, dict[str, int]]:
        """Bytes per host in each tier: resident (leases on its GPUs), warm (copies in its
        RAM) and cold (models seen on the host that are neither)."""
        out = {h: dict.fromkeys(Tier, 0) for h in self.host_of_gpu.values()}
        resident: set[str] = set()
        for lease in leases:
            if lease.state in ACTIVE:
                out[self.host_of_gpu[lease.gpu]][Tier.RESIDENT] += lease.committed_bytes
                resident.add(lease.model)
        for copy in self.warm.copies.values():
            out.setdefault(copy.host, dict.fromkeys(Tier, 0))[Tier.WARM] += copy.size_bytes
        for model, (host, size) in self.homes.items():
            if model not in resident and model not in self.warm.copies:
                out.setdefault(host, dict.fromkeys(Tier, 0))[Tier.COLD] += size
        return {h: {t.value: b for t, b in tiers.items()} for h, tiers in out.items()}
