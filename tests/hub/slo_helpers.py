"""Helpers for the SLO tests: per-minute traffic phases, the same series as Prometheus input
and as the hub's SLO engine sees them, and promtool unit tests whose expected alerts are the
hub's own verdicts (so ``promtool test rules`` passing means both agree)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from observability_hub.slo_burn import PAGE_ALERT, TICKET_ALERT, burn_state
from observability_hub.slo_history import SliHistory
from observability_hub.slo_rules import prometheus_rules, slo_labels
from observability_hub.slo_spec import SloSpec
from observability_hub.slo_store import SliStore

AGENT = "Worker"


@dataclass(frozen=True)
class Phase:
    minutes: int
    requests: int  # per minute
    bad: int  # per minute: errors (availability) or slow requests (latency)


def minutes_of(phases: list[Phase]) -> list[tuple[int, int]]:
    return [(p.requests, p.bad) for p in phases for _ in range(p.minutes)]


def _cumulative(values: list[int]) -> str:
    total, out = 0, ["0"]
    for v in values:
        total += v
        out.append(str(total))
    return " ".join(out)


def input_series(spec: SloSpec, minutes: list[tuple[int, int]]) -> list[dict[str, str]]:
    """Counters sampled once a minute, as the hub exports them."""
    requests = _cumulative([r for r, _ in minutes])
    bad = _cumulative([b for _, b in minutes])
    good = _cumulative([r - b for r, b in minutes])
    base = f'agent="{AGENT}",action="infer"'
    if spec.sli == "availability":
        return [{"series": f"mesh_agent_requests_total{{{base}}}", "values": requests},
                {"series": f'mesh_agent_errors_total{{{base},code="internal"}}', "values": bad}]
    le = f'{base},le="{spec.threshold_s!r}"'
    return [{"series": f"mesh_agent_requests_total{{{base}}}", "values": requests},
            {"series": f"mesh_agent_request_duration_seconds_count{{{base}}}",
             "values": requests},
            {"series": f"mesh_agent_request_duration_seconds_bucket{{{le}}}", "values": good}]


def hub_verdicts(spec: SloSpec, minutes: list[tuple[int, int]]) -> dict[int, dict[str, bool]]:
    """At the end of every minute: which SLO alerts the hub's engine fires."""
    history = SliHistory([spec], SliStore(None))
    out = {}
    for i, (requests, bad) in enumerate(minutes):
        history.record(spec.name, AGENT, i * 60 + 30, requests - bad, requests)
        now = (i + 1) * 60
        history.roll(now)
        state = burn_state(history, now)[0]
        out[i + 1] = {PAGE_ALERT: bool(state["page"]), TICKET_ALERT: bool(state["ticket"])}
    return out


def _expected(spec: SloSpec, rules: dict[str, Any], alertname: str) -> dict[str, Any]:
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == alertname)
    return {"exp_labels": {**slo_labels(spec), **rule["labels"]},
            "exp_annotations": rule["annotations"]}


def unit_test(spec: SloSpec, minutes: list[tuple[int, int]], eval_minutes: list[int],
              verdicts: dict[int, dict[str, bool]]) -> dict[str, Any]:
    """One promtool test: the series, and at each eval minute the alerts ``verdicts`` says."""
    rules = prometheus_rules([spec])
    checks = [{"eval_time": f"{m}m", "alertname": name,
               "exp_alerts": [_expected(spec, rules, name)] if verdicts[m][name] else []}
              for m in eval_minutes for name in (PAGE_ALERT, TICKET_ALERT)]
    return {"interval": "1m", "input_series": input_series(spec, minutes),
            "alert_rule_test": checks}
