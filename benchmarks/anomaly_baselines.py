"""What benchmarks/anomaly.py compares the hub's detector with, fed the same replayed steps.

``StaticThresholds``: the hub's own static rules (observability_hub.rules: error ratio above
5 % and p95 above 1 s over the hub's 5-minute RateWindow for 2 minutes, VRAM above 95 % for a
minute, heartbeat older than 3 intervals for 5 s).

``HealthZScore``: the original system's PredictiveAnalyzer: a 0/1 health value per agent every
30 s (1 while heartbeats arrive within the hub's expiry), the last 100 kept, at least 10
needed; score = |z-score of the latest value against the last 20| / 2 plus a negative-trend
term (the drop of the last 10 values' mean below the 10 before); a warning above 0.6.

Each ``step`` returns the set of (subject, signal) keys alerting after the step.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any

from common.base_agent.heartbeat import expiry_s
from observability_hub.rules import (
    ERROR_RATIO_MAX,
    LATENCY_P95_MAX_S,
    STALE_INTERVALS,
    VRAM_RATIO_MAX,
)
from observability_hub.series import Point
from observability_hub.window import RateWindow

__all__ = ["HealthZScore", "StaticThresholds"]

HEARTBEAT_S = 1.0  # the reference mesh's global.heartbeat_interval_s
STALE_FOR_S = 5.0


class StaticThresholds:
    def __init__(self, vram_total: dict[str, float]) -> None:
        self.vram_total = vram_total
        self.windows: dict[str, RateWindow] = {}
        self.since: dict[tuple[str, str], float] = {}

    def step(self, t: float, points: list[Point], actions: dict[str, Any]) -> set[tuple[str, str]]:
        over: dict[tuple[str, str], float] = {}  # key -> the rule's for_s
        for name, acts in actions.items():
            window = self.windows.setdefault(name, RateWindow())
            window.add(t, acts)
            ratio, p95 = window.error_ratio(), window.quantile(0.95)
            if ratio is not None and ratio > ERROR_RATIO_MAX:
                over[(name, "error_ratio")] = 120.0
            if p95 is not None and p95 > LATENCY_P95_MAX_S:
                over[(name, "latency_p95_s")] = 120.0
        for p in points:
            if p.signal == "heartbeat_gap_s" and p.value > STALE_INTERVALS * HEARTBEAT_S + \
                    STALE_FOR_S:
                over[(p.subject, p.signal)] = 0.0
            if p.signal == "vram_used_bytes" and p.value > VRAM_RATIO_MAX * self.vram_total[
                    p.subject]:
                over[(p.subject, p.signal)] = 60.0
        for key in [k for k in self.since if k not in over]:
            del self.since[key]
        for key in over:
            self.since.setdefault(key, t)
        return {k for k, for_s in over.items() if t - self.since[k] >= for_s}


class HealthZScore:
    SAMPLE_S = 30.0
    KEPT, NEEDED, RECENT = 100, 10, 20
    WARN = 0.6

    def __init__(self) -> None:
        self.values: dict[str, deque[float]] = {}
        self.worst_gap: dict[str, float] = {}
        self.next_at = self.SAMPLE_S
        self.alerting: set[tuple[str, str]] = set()

    def step(self, t: float, points: list[Point], actions: dict[str, Any]) -> set[tuple[str, str]]:
        for p in points:
            if p.signal == "heartbeat_gap_s":
                self.worst_gap[p.subject] = max(self.worst_gap.get(p.subject, 0.0), p.value)
        if t < self.next_at:
            return self.alerting
        self.next_at += self.SAMPLE_S
        self.alerting = set()
        for name, gap in self.worst_gap.items():
            values = self.values.setdefault(name, deque(maxlen=self.KEPT))
            values.append(0.0 if gap > expiry_s(HEARTBEAT_S) else 1.0)
            if len(values) >= self.NEEDED and self.score(list(values)) > self.WARN:
                self.alerting.add((name, "health"))
        self.worst_gap.clear()
        return self.alerting

    def score(self, values: list[float]) -> float:
        recent = values[-self.RECENT:]
        spread = statistics.pstdev(recent)
        z = 0.0 if spread == 0 else (recent[-1] - statistics.fmean(recent)) / spread
        half = len(recent) // 2
        drop = statistics.fmean(recent[:half]) - statistics.fmean(recent[half:])
        return abs(z) / 2.0 + max(0.0, drop)
