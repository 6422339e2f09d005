"""The SLO report: per SLO, and per agent and host under it, the measured SLI (availability
or share of fast requests), whether the objective is attained, the error budget spent and
left, and the incidents with their durations and the mean time to restore.

Read from the store's hourly sums plus the minute in progress: the report covers
``[from, to]`` where ``to`` is now and ``from`` the start of the hour ``window`` before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from observability_hub.slo_history import SliHistory
from observability_hub.slo_spec import SloSpec

__all__ = ["IncidentSource", "build_report"]

# (agent names, since, until) -> {"incidents": [...], "mttr_s": ...} from the hub's event
# log (``slo_events.log_incidents``), if the hub keeps one
IncidentSource = Callable[[list[str], float, float], dict[str, Any]]


def _figures(spec: SloSpec, good: float, total: float) -> dict[str, Any]:
    sli = good / total if total > 0 else None
    spent = None if sli is None else (1.0 - sli) / spec.budget
    return {"good": good, "total": total, "sli": sli,
            "attained": None if sli is None else sli >= spec.objective,
            "budget_spent": spent, "budget_left": None if spent is None else 1.0 - spent}


def _incidents(rows: list[dict[str, Any]], until: float) -> dict[str, Any]:
    items = [{**r, "end": min(r["end"], until), "duration_s": min(r["end"], until) - r["start"]}
             for r in rows]
    closed = [i["duration_s"] for i in items if not i["open"]]
    return {"incidents": items, "mttr_s": sum(closed) / len(closed) if closed else None}


def _slo(history: SliHistory, spec: SloSpec, window_s: int, now: float,
         events: IncidentSource | None) -> dict[str, Any]:
    until = now
    since = int((until - window_s) // 3600) * 3600
    sums = {a: [g, t] for a, g, t in history.store.hours(spec.name, since)}
    for (slo, agent), (g, t) in history.current.items():
        if slo == spec.name:
            cell = sums.setdefault(agent, [0.0, 0.0])
            cell[0], cell[1] = cell[0] + g, cell[1] + t
    agents = [{"agent": a, "host": spec.hosts.get(a, ""), **_figures(spec, g, t)}
              for a, (g, t) in sorted(sums.items())]
    hosts: dict[str, list[float]] = {}
    for a in agents:
        cell = hosts.setdefault(a["host"], [0.0, 0.0])
        cell[0], cell[1] = cell[0] + a["good"], cell[1] + a["total"]
    doc = {"slo": spec.name, "sli_kind": spec.sli, "objective": spec.objective,
           "threshold_s": spec.threshold_s, "window_s": window_s, "from": since, "to": until,
           **_figures(spec, sum(a["good"] for a in agents), sum(a["total"] for a in agents)),
           "agents": agents,
           "hosts": [{"host": h, **_figures(spec, g, t)} for h, (g, t) in sorted(hosts.items())],
           **_incidents(history.store.incidents(spec.name, since), until)}
    if events is not None:
        doc["process_incidents"] = events(spec.agents, since, until)
    return doc


def build_report(history: SliHistory, now: float, window_s: int | None = None,
                 events: IncidentSource | None = None) -> dict[str, Any]:
    """The report over ``window_s`` (each SLO's own window when None)."""
    slos = [_slo(history, spec, window_s or spec.window_s, now, events)
            for spec in history.specs.values()]
    return {"generated_at": now, "window_s": window_s, "slos": slos}
