"""What is normal for one series: an EWMA level with a MAD band, or a creep test.

``LevelModel`` (latency, error ratio, rate, heartbeat gap) follows the series with an
exponentially weighted moving average; the band around it is ``band_mads`` robust standard
deviations (1.4826 × the median absolute deviation of recent residuals), never narrower than
the signal's floor.  A point outside the band does not move the level (so a lasting shift keeps
showing) until it has been outside for ``relearn_after_s``: then the new level is the normal one.
Only points inside the band enter the MAD window, so an anomaly does not widen its own band.
During the warm-up every point is learnt.

``CreepModel`` (VRAM used) flags a rising floor: the least VRAM used in each third of the last
``vram_creep_window_s`` grows third after third, by more than ``vram_creep_min_mb`` in all.
A model load is one step up, a swap goes up and down: neither lifts the floor steadily.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

__all__ = ["Band", "CreepModel", "LevelModel", "SignalRule"]

MAD_TO_SIGMA = 1.4826
MIN_RESIDUALS = 6  # before this many, the floor alone sets the band


@dataclass(frozen=True)
class SignalRule:
    """How one signal is judged: ``direction`` up|down|both; floors of the band's half-width
    (absolute, and relative to the level)."""

    direction: str
    floor_abs: float
    floor_ratio: float = 0.0


@dataclass(frozen=True)
class Band:
    expected: float
    low: float
    high: float
    outside: bool


class LevelModel:
    def __init__(self, rule: SignalRule, alpha: float, band_mads: float, residuals_n: int,
                 warmup_n: int, relearn_n: int) -> None:
        self.rule, self.alpha, self.band_mads = rule, alpha, band_mads
        self.warmup_n, self.relearn_n = warmup_n, relearn_n
        self.level: float | None = None
        self.seen = 0
        self.out_run = 0
        self.residuals: deque[float] = deque(maxlen=residuals_n)

    def half_width(self) -> float:
        level = abs(self.level or 0.0)
        floor = max(self.rule.floor_abs, self.rule.floor_ratio * level)
        if len(self.residuals) < MIN_RESIDUALS:
            return floor
        median = statistics.median(self.residuals)
        mad = statistics.median(abs(r - median) for r in self.residuals)
        return max(floor, self.band_mads * MAD_TO_SIGMA * mad)

    def step(self, value: float) -> Band:
        if self.level is None:
            self.level, self.seen = value, 1
            return Band(value, value, value, False)
        half = self.half_width()
        band = Band(self.level, self.level - half, self.level + half, False)
        above, below = value > band.high, value < band.low
        direction = self.rule.direction
        outside = (above and direction != "down") or (below and direction != "up")
        self.seen += 1
        learning = self.seen <= self.warmup_n
        if outside and not learning:
            self.out_run += 1
            if self.out_run >= self.relearn_n:  # a lasting new level: learn it
                self.level, self.out_run = value, 0
                self.residuals.clear()
        else:
            self.out_run = 0
            self.residuals.append(value - self.level)
            weight = max(self.alpha, 1 / self.seen) if learning else self.alpha  # a mean at first
            self.level += weight * (value - self.level)
        return Band(band.expected, band.low, band.high, outside and not learning)


class CreepModel:
    """A rising floor: the lowest value of each third of the window goes up third after third,
    by more than min_rise in all.  Loads and unloads (a swapping pair of models moves GPU
    memory by gigabytes every few seconds) leave the floor where it is; a leak lifts it."""

    PARTS = 3

    def __init__(self, window_n: int, min_rise: float) -> None:
        self.part_n = max(1, window_n // self.PARTS)
        self.values: deque[float] = deque(maxlen=self.part_n * self.PARTS)
        self.min_rise = min_rise

    def step(self, value: float) -> Band:
        self.values.append(value)
        values = list(self.values)
        floors = [min(values[i:i + self.part_n]) for i in range(0, len(values), self.part_n)]
        start = floors[0]
        full = len(values) == self.values.maxlen
        creeping = full and all(a < b for a, b in zip(floors, floors[1:], strict=False)) \
            and floors[-1] - start > self.min_rise
        return Band(start, start, start + self.min_rise, creeping)
