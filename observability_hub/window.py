"""Rates over a sliding window of an agent's counters: error ratio and latency quantiles.

The same arithmetic as PromQL's ``rate`` ratio and ``histogram_quantile`` over ``[5m]``, so the
hub's rules and the shipped Prometheus rules agree.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from common.base_agent.metrics import LATENCY_BUCKETS_S

__all__ = ["MIN_REQUESTS", "WINDOW_S", "RateWindow", "histogram_quantile", "totals"]

WINDOW_S = 300.0
SAMPLE_EVERY_S = 5.0
MIN_REQUESTS = 20  # fewer requests in the window: no ratio, no quantile
_BOUNDS = (*LATENCY_BUCKETS_S, float("inf"))


def histogram_quantile(q: float, cumulative: list[float]) -> float | None:
    """PromQL's histogram_quantile over cumulative bucket counts (linear within a bucket)."""
    if not cumulative or cumulative[-1] <= 0:
        return None
    rank = q * cumulative[-1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(_BOUNDS, cumulative, strict=False):
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            width = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / width
                                                           if width else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound


def totals(actions: dict[str, Any]) -> tuple[int, int, list[int]]:
    requests = errors = 0
    buckets = [0] * len(_BOUNDS)
    for stats in actions.values():
        requests += int(stats.get("count", 0))
        errors += sum(int(v) for v in stats.get("errors", {}).values())
        for i, value in enumerate(stats.get("buckets", ())[:len(_BOUNDS)]):
            buckets[i] += int(value)
    return requests, errors, buckets


class RateWindow:
    """Samples of (time, requests, errors, buckets) at most every SAMPLE_EVERY_S."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, int, int, list[int]]] = deque()
        self.latest: tuple[float, int, int, list[int]] | None = None

    def add(self, at: float, actions: dict[str, Any]) -> None:
        sample = (at, *totals(actions))
        if self.latest is not None and sample[1] < self.latest[1]:
            self.samples.clear()  # counters went back: a restarted agent
        self.latest = sample
        if not self.samples or at - self.samples[-1][0] >= SAMPLE_EVERY_S:
            self.samples.append(sample)
        while self.samples and at - self.samples[0][0] > self.window_s:
            self.samples.popleft()

    def _delta(self) -> tuple[int, int, list[int]] | None:
        if not self.samples or self.latest is None:
            return None
        first, last = self.samples[0], self.latest
        requests = last[1] - first[1]
        if requests < MIN_REQUESTS:
            return None
        return requests, last[2] - first[2], [b - a for a, b in zip(first[3], last[3],
                                                                      strict=True)]

    def error_ratio(self) -> float | None:
        delta = self._delta()
        return None if delta is None else round(delta[1] / delta[0], 4)

    def quantile(self, q: float) -> float | None:
        delta = self._delta()
        if delta is None:
            return None
        value = histogram_quantile(q, [float(b) for b in delta[2]])
        return None if value is None else round(value, 6)
