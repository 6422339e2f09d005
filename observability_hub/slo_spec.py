"""What the hub knows of each SLO (derived from the config's ``slos:`` by the host plan) and
the SRE workbook's multi-window, multi-burn-rate alert table.

An objective's error budget is ``1 - objective``; a burn rate is the error ratio over a window
divided by the budget (1: the budget lasts exactly the SLO window).  An alert needs its long
and its short window over the factor at once: the long one shows the budget is really burning,
the short one that it still is (so the alert resolves soon after the burn stops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BURN_WINDOWS_S", "BurnAlert", "MINUTE_S", "SLO_ALERTS", "SloPlan", "SloSpec",
           "window_label"]

MINUTE_S = 60
HOUR_S = 3600


class SloSpec(BaseModel):
    """One objective, its agents resolved (``common.config.slo_targets``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    sli: Literal["availability", "heartbeat", "latency"]
    objective: float = Field(gt=0, lt=1)  # 0.999 for 99.9 %
    window_s: int = Field(gt=0)
    threshold_s: float | None = None
    agents: list[str] = Field(min_length=1)
    hosts: dict[str, str] = Field(default_factory=dict)  # agent -> host

    @property
    def budget(self) -> float:
        return 1.0 - self.objective


class SloPlan(BaseModel):
    """The hub's ``slos`` setting: objectives, where the SLI history lives, report cadence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objectives: list[SloSpec] = Field(default_factory=list)
    report_every_s: int = Field(default=86400, gt=0)
    db_path: str | None = None  # None: in memory only (a hub run alone)
    report_dir: str | None = None  # None: no scheduled report files


@dataclass(frozen=True)
class BurnAlert:
    severity: Literal["page", "ticket"]
    factor: float
    long_s: int
    short_s: int


# The workbook's table (Sloth's defaults): page at 2 % of a 30-day budget in 1 h or 5 % in 6 h,
# ticket at 10 % in 1 d or 10 % in 3 d.
SLO_ALERTS: tuple[BurnAlert, ...] = (
    BurnAlert("page", 14.4, HOUR_S, 5 * MINUTE_S),
    BurnAlert("page", 6.0, 6 * HOUR_S, 30 * MINUTE_S),
    BurnAlert("ticket", 3.0, 24 * HOUR_S, 2 * HOUR_S),
    BurnAlert("ticket", 1.0, 72 * HOUR_S, 6 * HOUR_S),
)
BURN_WINDOWS_S: tuple[int, ...] = tuple(sorted({w for a in SLO_ALERTS
                                                for w in (a.long_s, a.short_s)}))


def window_label(seconds: int) -> str:
    """Prometheus's duration for a window: 300 -> 5m, 3600 -> 1h, 86400 -> 1d."""
    for unit, size in (("d", 86400), ("h", HOUR_S), ("m", MINUTE_S)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
