"""The SLOs as Prometheus recording and alerting rules, named as Sloth names them.

Per SLO: ``slo:sli_error:ratio_rate<W>`` for every burn window ``W`` (from the raw series the
hub exports: ``mesh_agent_requests_total``, ``mesh_agent_errors_total``, the latency
histogram, ``mesh_agent_up``), ``slo:sli_error:ratio_rate<period>``, ``slo:objective:ratio``,
``slo:error_budget:ratio``, ``slo:time_period:days``, ``slo:current_burn_rate:ratio``,
``slo:period_burn_rate:ratio``, ``slo:period_error_budget_remaining:ratio``; and the alerts
``MeshSloBurnPage`` / ``MeshSloBurnTicket`` with the workbook's windows and factors, the same
ones the hub evaluates (``slo_burn``).  Labels: ``slo``, ``sloth_id``, ``sloth_service``,
``sloth_slo`` (and ``sloth_window`` on the ratios).
"""

from __future__ import annotations

from typing import Any

from observability_hub.slo_burn import PAGE_ALERT, TICKET_ALERT
from observability_hub.slo_spec import BURN_WINDOWS_S, SLO_ALERTS, SloSpec, window_label

__all__ = ["SERVICE", "error_ratio_expr", "prometheus_rules", "slo_labels"]

SERVICE = "mesh"
_SEVERITY = {"page": ("critical", PAGE_ALERT), "ticket": ("warning", TICKET_ALERT)}


def slo_labels(spec: SloSpec) -> dict[str, str]:
    return {"slo": spec.name, "sloth_id": f"{SERVICE}-{spec.name}", "sloth_service": SERVICE,
            "sloth_slo": spec.name}


def _selector(spec: SloSpec, extra: str = "") -> str:
    names = sorted(spec.agents)
    agent = f'agent="{names[0]}"' if len(names) == 1 else f'agent=~"{"|".join(names)}"'
    return "{" + agent + extra + "}"


def error_ratio_expr(spec: SloSpec, window: str) -> str:
    """The SLI's error ratio over ``window`` (no traffic: 0/0, no value)."""
    sel = _selector(spec)
    if spec.sli == "heartbeat":
        return f"1 - avg(avg_over_time(mesh_agent_up{sel}[{window}]))"
    total = f"sum(rate(mesh_agent_requests_total{sel}[{window}]))"
    if spec.sli == "availability":
        return f"(sum(rate(mesh_agent_errors_total{sel}[{window}])) or vector(0)) / {total}"
    le = _selector(spec, f',le="{spec.threshold_s!r}"')
    count = f"sum(rate(mesh_agent_request_duration_seconds_count{sel}[{window}]))"
    return f"1 - sum(rate(mesh_agent_request_duration_seconds_bucket{le}[{window}])) / {count}"


def _recordings(spec: SloSpec) -> list[dict[str, Any]]:
    labels = slo_labels(spec)
    rules = [{"record": f"slo:sli_error:ratio_rate{window_label(w)}",
              "expr": error_ratio_expr(spec, window_label(w)),
              "labels": {**labels, "sloth_window": window_label(w)}} for w in BURN_WINDOWS_S]
    period = window_label(spec.window_s)
    rate5m = f'slo:sli_error:ratio_rate5m{{sloth_id="{labels["sloth_id"]}"}}'
    rules.append({"record": f"slo:sli_error:ratio_rate{period}",
                  "expr": f"sum_over_time({rate5m}[{period}]) / ignoring (sloth_window) "
                          f"count_over_time({rate5m}[{period}])",
                  "labels": {**labels, "sloth_window": period}})
    return rules


def _meta(spec: SloSpec) -> list[dict[str, Any]]:
    labels = slo_labels(spec)
    sid = f'{{sloth_id="{labels["sloth_id"]}"}}'
    on = "on (sloth_id, sloth_slo, sloth_service, slo) group_left"
    period = window_label(spec.window_s)
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({spec.objective!r})",
         "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1 - {spec.objective!r})",
         "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({spec.window_s / 86400:g})",
         "labels": labels},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate5m{sid} / {on} slo:error_budget:ratio{sid}",
         "labels": labels},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{period}{sid} / {on} slo:error_budget:ratio{sid}",
         "labels": labels},
        {"record": "slo:period_error_budget_remaining:ratio",
         "expr": f"1 - slo:period_burn_rate:ratio{sid}", "labels": labels},
    ]


def _alerts(spec: SloSpec) -> list[dict[str, Any]]:
    labels = slo_labels(spec)
    sid = f'{{sloth_id="{labels["sloth_id"]}"}}'
    out = []
    for severity, (level, name) in _SEVERITY.items():
        pairs = []
        for a in (a for a in SLO_ALERTS if a.severity == severity):
            bound = f"{a.factor:g} * {spec.budget!r}"
            pairs.append(" and ".join(
                f"max(slo:sli_error:ratio_rate{window_label(w)}{sid} > ({bound})) "
                "without (sloth_window)" for w in (a.short_s, a.long_s)))
        summary = f"SLO {spec.name}: error budget burning ({severity})"
        description = (f"{spec.sli} SLO {spec.name} ({spec.objective:.3%} over "
                       f"{window_label(spec.window_s)}) burns its error budget")
        out.append({"alert": name, "expr": " or ".join(f"({p})" for p in pairs),
                    "labels": {"severity": level, "sloth_severity": severity, "slo": spec.name},
                    "annotations": {"summary": summary, "description": description}})
    return out


def prometheus_rules(specs: list[SloSpec]) -> dict[str, Any]:
    """A rules file (``groups:``): one group per SLO, its recordings, meta recordings, then its
    alerts.  Prometheus evaluates a group's rules in order but groups independently, so alerts
    in a group of their own (as Sloth writes them) read the recordings of this evaluation or of
    the last one, as the scheduling falls; in one group they always read this one's."""
    return {"groups": [{"name": f"slo-{spec.name}",
                        "rules": [*_recordings(spec), *_meta(spec), *_alerts(spec)]}
                       for spec in specs]}
