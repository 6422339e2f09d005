"""The ``anomaly:`` section: the hubs' one-hour series and the anomaly detector's knobs.

Part of the one schema (`common.config.schema.MeshConfig.anomaly`); the host plan hands it to
both hubs (``common.launcher.services``).  docs/CONFIG.md and docs/HUB.md say what each does.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AnomalyConfig", "MAX_POINTS"]

MAX_POINTS = 2000  # per series: history_s / step_s


class AnomalyConfig(BaseModel):
    """Series resolution and history, and how far from normal a signal must be, for how long,
    before the hub warns."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    enabled: bool = True
    step_s: float = Field(default=10.0, gt=0, le=300, description="one point per series per step")
    history_s: float = Field(default=3600.0, gt=0, description="points kept (the charts' span)")
    window_s: float = Field(default=60.0, gt=0, description=(
        "p95 latency and error ratio are over the last window_s, every step"))
    min_requests: int = Field(default=100, ge=1, description=(
        "requests in the window below which its p95 and error ratio are not computed"))
    baseline_half_life_s: float = Field(default=300.0, gt=0, description="of the EWMA level")
    residuals_s: float = Field(default=1800.0, gt=0, description="the MAD's window")
    band_mads: float = Field(default=6.0, gt=0, description="band half-width in robust sigmas")
    warmup_s: float = Field(default=600.0, ge=0, description="learning before a series may warn")
    min_duration_s: float = Field(default=60.0, ge=0, description=(
        "out of band this long before a signal counts (one step inside is forgiven)"))
    confirm_s: float = Field(default=90.0, ge=0, description=(
        "a signal that no other signal of its subject agrees with warns after this long"))
    relearn_after_s: float = Field(default=1800.0, gt=0, description=(
        "out of band this long: the new level becomes the baseline"))
    latency_floor_ratio: float = Field(default=0.25, ge=0, description=(
        "the band is at least this share of the expected p95 wide"))
    latency_floor_s: float = Field(default=0.00005, ge=0)
    error_ratio_floor: float = Field(default=0.005, ge=0)
    rate_floor_ratio: float = Field(default=0.5, ge=0)
    heartbeat_gap_floor_s: float = Field(default=0.5, ge=0)
    heartbeat_gap_floor_ratio: float = Field(default=0.6, ge=0, description=(
        "the gap must pass 1.6 times the usual one before it counts"))
    vram_creep_window_s: float = Field(default=180.0, gt=0, description=(
        "split in thirds: the least VRAM used in each must grow third after third"))
    vram_creep_min_mb: int = Field(default=128, gt=0, description="by this much in all")

    @model_validator(mode="after")
    def _sizes(self) -> AnomalyConfig:
        points = self.history_s / self.step_s
        if points > MAX_POINTS:
            raise ValueError(f"history_s / step_s is {points:.0f} points per series; at most "
                             f"{MAX_POINTS} (raise step_s or lower history_s)")
        if self.window_s < self.step_s:
            raise ValueError(f"window_s ({self.window_s:g}) is below step_s ({self.step_s:g})")
        if self.confirm_s < self.min_duration_s:
            raise ValueError(f"confirm_s ({self.confirm_s:g}) is below min_duration_s "
                             f"({self.min_duration_s:g})")
        if self.vram_creep_window_s < 3 * self.step_s:
            raise ValueError(f"vram_creep_window_s ({self.vram_creep_window_s:g}) must span at "
                             f"least three steps ({3 * self.step_s:g} s)")
        return self
