"""Per-agent request metrics, exposed on an injected prometheus_client registry.

The hot path only bumps plain Python numbers (one loop thread owns them); a custom collector
turns them into metric families at scrape time, as client_python's own collectors do.  This
keeps the per-request cost near 1 µs instead of the ~5 µs of locked Counter/Histogram children.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from common.base_agent.traffic import TrafficLog

__all__ = ["LATENCY_BUCKETS_S", "MAX_ACTIONS", "AgentMetrics", "PlainHistogram"]

# From 50 µs (a loopback round trip) to 10 s.
LATENCY_BUCKETS_S = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                     0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_ACTIONS = 256  # label cardinality bound against hostile action names
OTHER = "_other"


class PlainHistogram:
    """Counts per bucket, a sum and a count, owned by one thread; exported by a collector
    through ``cumulative()`` (HistogramMetricFamily's bucket form)."""

    __slots__ = ("bounds", "count", "counts", "sum_s")

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum_s = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum_s += seconds
        self.count += 1

    def cumulative(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out


class _ActionStats:
    __slots__ = ("errors", "latency")

    def __init__(self) -> None:
        self.latency = PlainHistogram()
        self.errors: dict[str, int] = {}


class AgentMetrics:
    """Requests, errors and latency per action, and bad frames per code, for one agent."""

    def __init__(self, agent: str, registry: CollectorRegistry | None = None) -> None:
        self.agent = agent
        self.registry = registry if registry is not None else CollectorRegistry()
        self._actions: dict[str, _ActionStats] = {}
        self._bad_frames: dict[str, int] = {}
        self.traffic = TrafficLog()  # each request, for a canary judge (the `traffic` action)
        self.registry.register(self)

    def observe(self, action: str, duration_s: float, error_code: str = "") -> None:
        stats = self._actions.get(action)
        if stats is None:
            if len(self._actions) >= MAX_ACTIONS:
                action = OTHER
            stats = self._actions.setdefault(action, _ActionStats())
        stats.latency.observe(duration_s)
        self.traffic.add(action, duration_s, error_code)
        if error_code:
            stats.errors[error_code] = stats.errors.get(error_code, 0) + 1

    def bad_frame(self, code: str) -> None:
        self._bad_frames[code] = self._bad_frames.get(code, 0) + 1

    def snapshot(self) -> dict[str, float]:
        """Totals for the health report and the hub."""
        actions = list(self._actions.values())
        return {"requests_total": sum(s.latency.count for s in actions),
                "errors_total": sum(sum(s.errors.values()) for s in actions),
                "bad_frames_total": sum(self._bad_frames.values())}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("mesh_agent_requests", "Requests handled, by action",
                                       labels=["agent", "action"])
        errors = CounterMetricFamily("mesh_agent_errors", "Error replies, by action and code",
                                     labels=["agent", "action", "code"])
        latency = HistogramMetricFamily("mesh_agent_request_duration_seconds",
                                        "Time from decode to reply, by action",
                                        labels=["agent", "action"])
        for action, stats in list(self._actions.items()):
            requests.add_metric([self.agent, action], stats.latency.count)
            for code, count in list(stats.errors.items()):
                errors.add_metric([self.agent, action, code], count)
            latency.add_metric([self.agent, action], stats.latency.cumulative(),
                               stats.latency.sum_s)
        bad = CounterMetricFamily("mesh_agent_bad_frames",
                                  "Malformed, oversized or wrong-version frames, by code",
                                  labels=["agent", "code"])
        for code, count in list(self._bad_frames.items()):
            bad.add_metric([self.agent, code], count)
        return iter([requests, errors, latency, bad])
