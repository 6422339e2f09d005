"""The pool's gauges for the ObservabilityHub (``common.hub.GaugeSource``).

``{vram: [{host, gpu, name, used_bytes, committed_bytes, total_bytes}], leases_active,
evictions_total, evictions_recent: [{n, model, gpu, for}]}`` (the last evictions, numbered by
the total at the time, so the hub names each one once): one ``vram`` entry per GPU slot, on the
host that holds the GPU (the pool spans both hosts), ``gpu`` its index on that host as the hub
labels it.  ``used_bytes`` is the backend's figure (NVML, or what holders reported on a
simulated GPU); ``committed_bytes`` what leases hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from main_pc.model_manager.lease import ACTIVE
from main_pc.model_manager.pool import VramPool

__all__ = ["pool_gauges"]


def pool_gauges(pool: VramPool, used: Mapping[str, int]) -> dict[str, Any]:
    committed = pool.committed()
    vram = [{"host": slot.host, "gpu": str(slot.index), "name": slot.name,
             "used_bytes": int(used.get(slot.gpu, 0)),
             "committed_bytes": int(committed.get(slot.gpu, 0)),
             "total_bytes": int(slot.total_bytes)} for slot in pool.slots]
    active = sum(1 for lease in pool.leases.values() if lease.state in ACTIVE)
    return {"vram": vram, "leases_active": active,
            "evictions_total": int(pool.counters["evictions"]),
            "evictions_recent": list(pool.recent_evictions)}
