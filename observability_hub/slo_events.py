"""Incidents from the hub's event log (``events.EventLog``) for the SLO report: an agent's
process down (``process.exited``, ``hung`` or ``crash_loop``) until it runs again
(``process.started`` or ``restarted``), with its duration; one still down is open."""

from __future__ import annotations

from typing import Any, Protocol

from observability_hub.slo_report import IncidentSource

__all__ = ["DOWN", "UP", "log_incidents"]

DOWN = ("process.exited", "process.hung", "process.crash_loop")
UP = ("process.started", "process.restarted")
QUERY_LIMIT = 10_000


class EventQuery(Protocol):
    def query(self, since: float | None = None, until: float | None = None,
              agent: str | None = None, host: str | None = None, kind: str | None = None,
              limit: int = 1000) -> list[dict[str, Any]]: ...


def _agent_incidents(events: list[dict[str, Any]], until: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    down: dict[str, Any] | None = None
    for event in events:
        if event["kind"] in DOWN and down is None:
            down = event
        elif event["kind"] in UP and down is not None:
            out.append({"agent": event["agent"], "start": down["ts"], "end": event["ts"],
                        "duration_s": event["ts"] - down["ts"], "open": False,
                        "cause": down["summary"]})
            down = None
    if down is not None:
        out.append({"agent": down["agent"], "start": down["ts"], "end": until,
                    "duration_s": until - down["ts"], "open": True, "cause": down["summary"]})
    return out


def log_incidents(log: EventQuery) -> IncidentSource:
    def incidents(agents: list[str], since: float, until: float) -> dict[str, Any]:
        found: list[dict[str, Any]] = []
        for agent in agents:
            events = log.query(since=since, until=until, agent=agent, kind="process",
                               limit=QUERY_LIMIT)
            found += _agent_incidents(events, until)
        found.sort(key=lambda i: i["start"])
        closed = [i["duration_s"] for i in found if not i["open"]]
        return {"incidents": found, "mttr_s": sum(closed) / len(closed) if closed else None}
    return incidents
