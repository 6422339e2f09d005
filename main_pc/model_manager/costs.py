"""What evicting a model is expected to cost: how often it is used times how long it takes to
come back from the tier it would go to.

Use is a decayed count (half-life ``usage_half_life_s``): a model used r times a second has a
count of about r * half-life / ln 2, so the rate is read back without keeping timestamps.
Load times are measured by the holders (``report``: from RAM, ``warm``, or from disk,
``cold``) and kept per model and tier; until a tier is measured, its prior is the model's
size times ``warm_load_s_per_gb`` / ``cold_load_s_per_gb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from common.vram.protocol import Tier

__all__ = ["CostBook"]

GIB = 1 << 30
LOAD_ALPHA = 0.5  # weight of the newest measured load time


@dataclass(slots=True)
class _Model:
    count: float = 0.0  # decayed uses
    at: float = 0.0  # when count was last decayed
    load_s: dict[Tier, float] = field(default_factory=dict)


class CostBook:
    def __init__(self, half_life_s: float, warm_s_per_gb: float, cold_s_per_gb: float) -> None:
        self.half_life_s = half_life_s
        self.prior_s_per_gb = {Tier.WARM: warm_s_per_gb, Tier.COLD: cold_s_per_gb}
        self._models: dict[str, _Model] = {}

    def _decayed(self, model: str, now: float) -> _Model:
        entry = self._models.setdefault(model, _Model(at=now))
        if now > entry.at:
            entry.count *= 2.0 ** (-(now - entry.at) / self.half_life_s)
            entry.at = now
        return entry

    def used(self, model: str, uses: int, now: float) -> None:
        self._decayed(model, now).count += max(0, uses)

    def rate(self, model: str, now: float) -> float:
        """Uses per second, recently."""
        if model not in self._models:
            return 0.0
        return self._decayed(model, now).count * math.log(2) / self.half_life_s

    def loaded(self, model: str, tier: Tier, seconds: float) -> None:
        """A holder measured a load of model from tier."""
        times = self._models.setdefault(model, _Model()).load_s
        old = times.get(tier)
        times[tier] = seconds if old is None else LOAD_ALPHA * seconds + (1 - LOAD_ALPHA) * old

    def measured(self, model: str, tier: Tier) -> float | None:
        entry = self._models.get(model)
        return entry.load_s.get(tier) if entry else None

    def reload_s(self, model: str, tier: Tier, size_bytes: int) -> float:
        measured = self.measured(model, tier)
        if measured is not None:
            return measured
        return size_bytes / GIB * self.prior_s_per_gb[tier]

    def cost(self, model: str, tier: Tier, size_bytes: int, now: float) -> float:
        """Expected seconds of waiting per second lost by evicting model to tier."""
        return self.rate(model, now) * self.reload_s(model, tier, size_bytes)

    def view(self, model: str, now: float) -> dict[str, float | None]:
        return {"uses_per_min": round(60 * self.rate(model, now), 2),
                "warm_load_s": _round(self.measured(model, Tier.WARM)),
                "cold_load_s": _round(self.measured(model, Tier.COLD))}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
