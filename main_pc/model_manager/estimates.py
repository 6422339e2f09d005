"""What each model really uses, learned from holders' reports, to correct later estimates.

The corrected estimate is the highest use recently reported for the model plus a margin, in
both directions: a model that over-used gets more next time; one that used less frees the
difference for others (the measured form of the "2-3 GB savings" the old system only claimed).
"""

from __future__ import annotations

from collections import deque

__all__ = ["EstimateBook"]

WINDOW = 8  # reports remembered per model


class EstimateBook:
    def __init__(self, margin: float, unknown_margin: float = 0.0) -> None:
        self.margin = margin
        self.unknown_margin = unknown_margin
        self._seen: dict[str, deque[int]] = {}

    def learn(self, model: str, used_bytes: int) -> None:
        if used_bytes > 0:
            self._seen.setdefault(model, deque(maxlen=WINDOW)).append(int(used_bytes))

    def learned(self, model: str) -> int | None:
        seen = self._seen.get(model)
        return max(seen) if seen else None

    def effective(self, model: str, requested_bytes: int) -> int:
        """The bytes to commit for a new lease of model."""
        peak = self.learned(model)
        if peak is None:
            return int(requested_bytes * (1.0 + self.unknown_margin))
        return int(peak * (1.0 + self.margin))

    def as_dict(self) -> dict[str, int]:
        return {m: max(s) for m, s in self._seen.items() if s}
