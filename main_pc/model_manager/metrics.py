"""The pool's Prometheus metrics, read from the pool at scrape time (client_python Collector).

``mesh_vram_capacity_bytes``, ``mesh_vram_committed_bytes``, ``mesh_vram_used_bytes`` (the
backend's figure: NVML, or what holders reported on a simulated GPU) and ``mesh_vram_leases``
per GPU; ``mesh_vram_queue_length``; counters ``mesh_vram_evictions_total``,
``mesh_vram_overuse_events_total``, ``mesh_vram_leases_ended_total{how}``,
``mesh_vram_refused_total{reason}``; histogram ``mesh_vram_queue_wait_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from common.vram.protocol import TERMINAL
from main_pc.model_manager.pool import VramPool

__all__ = ["VramCollector"]


class VramCollector:
    def __init__(self, pool: VramPool, used_bytes: Callable[[], dict[str, int]]) -> None:
        self.pool = pool
        self.used_bytes = used_bytes

    def collect(self) -> Iterator[Metric]:
        pool = self.pool
        capacity = GaugeMetricFamily("mesh_vram_capacity_bytes", "GPU memory", labels=["gpu"])
        committed = GaugeMetricFamily("mesh_vram_committed_bytes", "Bytes committed to leases",
                                      labels=["gpu"])
        used = GaugeMetricFamily("mesh_vram_used_bytes", "Bytes the backend reports in use",
                                 labels=["gpu"])
        leases = GaugeMetricFamily("mesh_vram_leases", "Live leases", labels=["gpu"])
        by_gpu: dict[str, int] = {}
        for lease in list(pool.leases.values()):
            if lease.gpu:
                by_gpu[lease.gpu] = by_gpu.get(lease.gpu, 0) + 1
        used_now = self.used_bytes()
        for gpu, amount in pool.committed().items():
            capacity.add_metric([gpu], pool.by_gpu[gpu].total_bytes)
            committed.add_metric([gpu], amount)
            used.add_metric([gpu], used_now.get(gpu, 0))
            leases.add_metric([gpu], by_gpu.get(gpu, 0))
        yield from (capacity, committed, used, leases)
        yield GaugeMetricFamily("mesh_vram_queue_length", "Queued requests",
                                value=len(pool.queue()))
        yield from self._counters()

    def _counters(self) -> Iterator[Metric]:
        counts = self.pool.counters
        yield CounterMetricFamily("mesh_vram_evictions", "Leases asked to unload",
                                  value=counts["evictions"])
        yield CounterMetricFamily("mesh_vram_overuse_events",
                                  "Holders reporting more than granted",
                                  value=counts["over_use"])
        ended = CounterMetricFamily("mesh_vram_leases_ended", "Leases ended, by how",
                                    labels=["how"])
        for state in sorted(TERMINAL):
            ended.add_metric([state.value], counts[state.value])
        yield ended
        refused = CounterMetricFamily("mesh_vram_refused", "Refused requests, by reason",
                                      labels=["reason"])
        for key, value in sorted(counts.items()):
            if key.startswith("refused_"):
                refused.add_metric([key.removeprefix("refused_")], value)
        yield refused
        wait = self.pool.queue_wait
        yield HistogramMetricFamily("mesh_vram_queue_wait_seconds",
                                    "Time from acquire to grant",
                                    buckets=wait.cumulative(), sum_value=wait.sum_s)
