"""The pool's policy knobs (agent settings) and its GPUs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from common.base_agent.settings import AgentSettings
from common.gpu.backend import MIB
from common.vram.protocol import gpu_id

__all__ = ["GpuSlot", "Policy"]


class Policy(AgentSettings):
    """The knobs of the pool; the model manager's settings extend them."""

    reserve_mb: int = 512  # per GPU, never committed: absorbs allocator slack and over-use
    keepalive_ttl_s: float = 30.0  # a lease without keepalive for this long expires
    evict_timeout_s: float = 10.0  # how long an asked holder has to release
    evict_backoff_s: float = 30.0  # a holder that did not release is not asked again for this
    min_idle_s: float = 1.0  # a lease used more recently than this is busy, not evictable,
    load_grace_s: float = 60.0  # a granted lease still loading (no report yet) is not evicted
    min_resident_s: float = 5.0  # anti-thrash: a fresh grant is not evicted before this,
    # ... both, or this many times the lease's reload time if sooner: a model back in 50 ms
    # need not hold the GPU for seconds while another waits
    min_resident_reloads: float = 5.0
    evict_equal_priority: bool = True  # False: evict only strictly lower priorities
    aging_s: float = 30.0  # a queued request gains one priority level per aging_s waited
    max_pass_over: int = 4  # a queued request passed over this often holds its room
    queue_deadline_s: float = 120.0  # a request queued this long is refused (acquire may say)
    estimate_margin: float = 0.05  # headroom added to a learned estimate
    unknown_margin: float = 0.2  # headroom on a model never measured (first loads over-use)
    over_use_tolerance: float = 0.05  # reported use above grant * (1 + this) is over-use
    max_queue: int = 1024
    # victims: by expected cost (use rate x reload time from the tier they would go to), or
    # least recently used first; lower priorities go first either way
    eviction: Literal["cost", "lru"] = "cost"
    usage_half_life_s: float = 60.0  # how quickly a model's use rate forgets
    warm_load_s_per_gb: float = 0.05  # reload from host RAM until measured (pinned, PCIe 4 x16)
    cold_load_s_per_gb: float = 1.0  # reload from disk until measured


@dataclass(frozen=True, slots=True)
class GpuSlot:
    host: str
    index: int
    name: str
    total_bytes: int
    reserve_bytes: int

    @property
    def gpu(self) -> str:
        return gpu_id(self.host, self.index)

    @property
    def usable_bytes(self) -> int:
        return max(0, self.total_bytes - self.reserve_bytes)

    def as_dict(self) -> dict[str, Any]:
        return {"gpu": self.gpu, "host": self.host, "index": self.index, "name": self.name,
                "capacity_mb": round(self.total_bytes / MIB, 1),
                "reserve_mb": round(self.reserve_bytes / MIB, 1)}
