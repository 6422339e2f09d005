"""What is normal for one series: an EWMA level with a MAD band, or a creep test.

``LevelModel`` (latency, error ratio, rate, heartbeat gap) follows the series with an
exponentially weighted moving average; the band around it is ``band_mads`` robust standard
deviations (1.4826 × the median absolute deviation of recent residuals), never narrower than
the signal's floor.  A point outside the band does not move the level (so a lasting shift keeps
showing) until it has been outside for ``relearn_after_s``: then the new level is the normal one.
Only points inside the band enter the MAD window, so an anomaly does not widen its own band.

``CreepModel`` (VRAM used) flags a steady rise: over the last ``creep_window_s`` most steps went
up and the total rise exceeds ``creep_min_bytes``.  A model load is one step up, not a creep.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

__all__ = ["Band", "CreepModel", "LevelModel", "SignalRule"]

MAD_TO_SIGMA = 1.4826
MIN_RESIDUALS = 6  # before this many, the floor alone sets the band
MAX_FALL_SHARE = 0.1  # a creep may dip now and then


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
        if outside:
            self.out_run += 1
            if self.out_run >= self.relearn_n:  # a lasting new level: learn it
                self.level, self.out_run = value, 0
                self.residuals.clear()
        else:
            self.out_run = 0
            self.residuals.append(value - self.level)
            self.level += self.alpha * (value - self.level)
        learning = self.seen <= self.warmup_n
        return Band(band.expected, band.low, band.high, outside and not learning)


class CreepModel:
    def __init__(self, window_n: int, min_rise: float, rising_share: float = 0.6) -> None:
        self.values: deque[float] = deque(maxlen=window_n + 1)
        self.min_rise, self.rising_share = min_rise, rising_share

    def step(self, value: float) -> Band:
        self.values.append(value)
        start = self.values[0]
        band = Band(start, start, start + self.min_rise, False)
        if len(self.values) < self.values.maxlen:  # type: ignore[operator]
            return band
        steps = list(self.values)
        rises = sum(1 for a, b in zip(steps, steps[1:], strict=False) if b > a)
        falls = sum(1 for a, b in zip(steps, steps[1:], strict=False) if b < a)
        n = len(steps) - 1
        creeping = rises >= self.rising_share * n and falls <= MAX_FALL_SHARE * n \
            and value - start > self.min_rise
        return Band(start, start, start + self.min_rise, creeping)
