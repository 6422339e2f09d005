"""Multi-window, multi-burn-rate alerts on the SLI history, as hub alert rules.

``burn_state`` gives each SLO's error ratio and burn rate per window and which alerts of the
workbook's table (``slo_spec.SLO_ALERTS``) hold; ``SLO_RULES`` turn that into the hub's alerts
``MeshSloBurnPage`` (critical) and ``MeshSloBurnTicket`` (warning), the same alerts the rules of
``mesh slo rules`` give Prometheus.  No traffic in a window means no ratio and no alert.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from observability_hub.rules import Matches, Rule
from observability_hub.slo_history import SliHistory
from observability_hub.slo_spec import SLO_ALERTS, BurnAlert, window_label

__all__ = ["PAGE_ALERT", "SLO_RULES", "TICKET_ALERT", "burn_state", "firing"]

PAGE_ALERT = "MeshSloBurnPage"
TICKET_ALERT = "MeshSloBurnTicket"


def firing(alert: BurnAlert, ratios: dict[int, float | None], budget: float) -> bool:
    long, short = ratios[alert.long_s], ratios[alert.short_s]
    threshold = alert.factor * budget
    return long is not None and short is not None and long > threshold and short > threshold


def burn_state(history: SliHistory, now: float) -> list[dict[str, Any]]:
    out = []
    for spec in history.specs.values():
        ratios = history.error_ratios(spec.name, now)
        held = [a for a in SLO_ALERTS if firing(a, ratios, spec.budget)]
        out.append({
            "slo": spec.name, "sli": spec.sli, "objective": spec.objective,
            "error_ratio": {window_label(w): r for w, r in ratios.items()},
            "burn_rate": {window_label(w): None if r is None else r / spec.budget
                          for w, r in ratios.items()},
            "page": [_why(a, ratios, spec.budget) for a in held if a.severity == "page"],
            "ticket": [_why(a, ratios, spec.budget) for a in held if a.severity == "ticket"],
        })
    return out


def _why(alert: BurnAlert, ratios: dict[int, float | None], budget: float) -> str:
    long, short = (ratios[alert.long_s] or 0.0) / budget, (ratios[alert.short_s] or 0.0) / budget
    return (f"burn {long:.1f}x over {window_label(alert.long_s)} and {short:.1f}x over "
            f"{window_label(alert.short_s)} (> {alert.factor:g}x)")


def _matching(severity: str) -> Callable[[dict[str, Any]], Matches]:
    def match(view: dict[str, Any]) -> Matches:
        return {(("slo", s["slo"]),): "; ".join(s[severity]) for s in view.get("slos", ())
                if s[severity]}
    return match


SLO_RULES: tuple[Rule, ...] = (
    Rule(PAGE_ALERT, "critical", 0.0, "SLO error budget burning fast (page)", _matching("page")),
    Rule(TICKET_ALERT, "warning", 0.0, "SLO error budget burning (ticket)", _matching("ticket")),
)
