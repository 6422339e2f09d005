"""A retry budget (Linkerd's): fail-over retries may add at most ``ratio`` of a client's calls
plus ``min_per_s`` a second, so retrying cannot double the load on a mesh that is failing.

A token bucket: every call deposits ``ratio`` tokens, time adds ``min_per_s`` a second, a
retry takes one; at most ``burst`` tokens are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RetryBudget"]


class RetryBudget:
    def __init__(self, ratio: float = 0.2, min_per_s: float = 10.0, burst: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ratio < 0 or min_per_s < 0 or burst < 1:
            raise ValueError(f"retry budget: ratio {ratio} and min_per_s {min_per_s} must be "
                             f">= 0 and burst {burst} >= 1")
        self.ratio, self.min_per_s, self.burst = ratio, min_per_s, burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()
        self.spent = 0
        self.refused = 0

    def _refill(self, tokens: float) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + tokens + (now - self._at) * self.min_per_s)
        self._at = now

    def deposit(self) -> None:
        """One call made."""
        self._refill(self.ratio)

    def withdraw(self) -> bool:
        """True (and one token spent) when a retry is within the budget."""
        self._refill(0.0)
        if self._tokens < 1:
            self.refused += 1
            return False
        self._tokens -= 1
        self.spent += 1
        return True
