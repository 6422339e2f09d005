"""Aggregation: per agent, per host and mesh-wide, with the dependency roll-up.

The aggregator is plain data; the hub calls it under its lock from the loop thread (reports,
events) and from HTTP threads (views).  ``view()`` builds the ``/api/health`` document.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from common.hub.protocol import ProcessEvent
from observability_hub.instances import Instances
from observability_hub.records import AgentRecord, AgentState
from observability_hub.refusals import Refusals
from observability_hub.rollup import root_causes
from observability_hub.window import RateWindow

__all__ = ["EVENTS_KEPT", "FORGET_AFTER_S", "MAX_UNKNOWN_AGENTS", "Aggregator"]

EVENTS_KEPT = 200
FORGET_AFTER_S = 600.0  # an agent not in the config, silent this long, is forgotten
# Agents not in the config tracked at once (second instances, `mesh agent run` agents): as many
# as the registry admits (service_registry.state.MAX_INSTANCES); reports and events of agents
# beyond are dropped and counted (``unknown_agents_dropped``, mesh_hub_unknown_agents_dropped).
# Agents in the config are always tracked, however many.  The hub setting max_unknown_agents.
MAX_UNKNOWN_AGENTS = 4096
_RANK = {"passing": 0, "unknown": 1, "warning": 1, "affected": 1, "critical": 2}


class Aggregator:
    def __init__(self, dependencies: Mapping[str, Sequence[str]] | None = None,
                 hosts: Mapping[str, str] | None = None,
                 max_unknown: int = MAX_UNKNOWN_AGENTS) -> None:
        self.max_unknown = max_unknown
        self.deps = {k: list(v) for k, v in (dependencies or {}).items()}
        self.hosts = dict(hosts or {})
        self.records: dict[str, AgentRecord] = {}
        self.windows: dict[str, RateWindow] = {}
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        self.instances = Instances()  # by instance id too: blue/green's old and new apart
        self.refusals = Refusals()
        self.unknown_dropped = 0  # reports and events of agents beyond max_unknown
        for name, host in self.hosts.items():
            self.records[name] = AgentRecord(name, host=host)

    def _record(self, name: str, host: str) -> AgentRecord:
        record = self.records.get(name)
        if record is None:
            record = self.records[name] = AgentRecord(name, host=self.hosts.get(name, host))
        elif not record.host:
            record.host = host
        return record

    def _full(self, name: str) -> bool:
        """A name the hub would have to add while it already tracks its share of unknowns."""
        if name in self.records or name in self.hosts:
            return False
        if len(self.records) - len(self.hosts) < self.max_unknown:
            return False
        self.unknown_dropped += 1
        return True

    def ingest_report(self, body: dict[str, Any], seen_at: float) -> None:
        name = str(body["agent"])
        if self._full(name):
            return
        record = self._record(name, str(body.get("host_name") or body.get("host", "")))
        self.instances.ingest(name, body, seen_at)
        before = record.seq
        record.ingest(body, seen_at)
        if record.seq != before:
            self.refusals.note(name, body.get("auth"))
            self.windows.setdefault(name, RateWindow()).add(seen_at, body.get("actions", {}))

    def touch(self, name: str, instance_id: str, seen_at: float) -> bool:
        """name's instance_id was alive at seen_at (its launcher's stamp): heard, as by a report,
        without new figures.  False if the hub has no report of that instance yet."""
        record = self.records.get(name)
        if record is None or not record.instance_id or record.instance_id != instance_id:
            return False
        if record.last_seen is None or seen_at > record.last_seen:
            record.last_seen = seen_at
        return True

    def ingest_event(self, body: dict[str, Any], seen_at: float) -> None:
        event = ProcessEvent(body["event"])
        if self._full(str(body["agent"])):
            return
        record = self._record(str(body["agent"]), str(body.get("host", "")))
        code = body.get("code")
        record.on_event(event, code if isinstance(code, int) else None,
                        int(body.get("pid") or 0), seen_at)
        self.events.append({"ts": float(body.get("ts") or time.time()), "host": record.host,
                            "agent": record.name, "event": event.value, "code": code,
                            "pid": record.pid})

    def prune(self, now: float) -> list[str]:
        """Forget agents that are not in the config and were silent for FORGET_AFTER_S."""
        gone = [name for name, r in self.records.items() if name not in self.hosts
                and now - max(r.last_seen or 0.0, r.event_at) > FORGET_AFTER_S]
        for name in gone:
            del self.records[name]
            self.windows.pop(name, None)
            self.instances.by_name.pop(name, None)
        return gone

    def sync_items(self, now: float) -> list[dict[str, Any]]:
        """Every agent's latest report with its age: what a returning central hub pulls."""
        return [{"kind": "report", "age_s": record.age_s(now),
                 "body": {**record.report, "host_name": record.host}}
                for record in self.records.values() if record.report]

    # -- the view ----------------------------------------------------------------------------
    def agent_views(self, now: float) -> list[dict[str, Any]]:
        states = {name: r.state(now) for name, r in self.records.items()}
        critical = {n for n, (state, _) in states.items() if state == AgentState.CRITICAL}
        causes = root_causes(critical, list(self.records), self.deps)
        return [self._agent_view(r, states[r.name], causes.get(r.name, []), now)
                for r in sorted(self.records.values(), key=lambda r: (r.host, r.name))]

    def _agent_view(self, r: AgentRecord, state: tuple[str, list[str]], causes: list[str],
                    now: float) -> dict[str, Any]:
        age = r.age_s(now)
        window = self.windows.get(r.name)
        return {"name": r.name, "host": r.host, "state": state[0], "reasons": state[1],
                "affected": bool(causes), "root_cause": causes, "up": r.up(now),
                "heartbeat_age_s": None if age is None else round(age, 3),
                "interval_s": r.interval_s, "restarts": r.restarts_total,
                "restarts_recent": r.restarts_within(now), "pid": r.pid,
                "instance_id": r.instance_id, "event": r.event,
                "seq": r.seq, "reports_total": r.reports_total, "lost_total": r.lost_total,
                "dependencies": self.deps.get(r.name, []),
                "error_ratio": window.error_ratio() if window else None,
                "latency_p95_s": window.quantile(0.95) if window else None,
                "gauges": r.report.get("gauges", {}) if r.up(now) else {},
                "instances": self.instances.view(r.name, now)}

    def view(self, now: float | None = None) -> dict[str, Any]:
        now = time.monotonic() if now is None else now
        agents = self.agent_views(now)
        gpus = _gpus(agents)
        hosts = sorted({a["host"] for a in agents} | {g["host"] for g in gpus})
        host_views = [self._host_view(h, [a for a in agents if a["host"] == h],
                                      [g for g in gpus if g["host"] == h]) for h in hosts]
        counts = _counts(agents)
        status = max((h["status"] for h in host_views), key=_RANK.__getitem__,
                     default="passing")
        return {"status": "warning" if status in ("unknown", "affected") else status,
                "generated_at": time.time(), "counts": counts, "hosts": host_views,
                "agents": agents, "events": list(reversed(self.events))[:50],
                "security": self.refusals.document(),
                "unknown_agents_dropped": self.unknown_dropped}

    @staticmethod
    def _host_view(host: str, agents: list[dict[str, Any]],
                   gpus: list[dict[str, Any]]) -> dict[str, Any]:
        worst = "passing"
        for a in agents:
            state = "affected" if a["affected"] else a["state"]
            worst = max(worst, state, key=_RANK.__getitem__)
        return {"name": host, "status": worst, "counts": _counts(agents), "gpus": gpus}


def _gpus(agents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every reported GPU, on its own ``host`` (the VRAM pool reports both hosts' GPUs) or
    else on the reporting agent's."""
    return [{**g, "host": str(g.get("host") or a["host"]), "agent": a["name"]}
            for a in agents for g in a["gauges"].get("vram", [])]


def _counts(agents: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys((*AgentState.ALL, "affected"), 0)
    for a in agents:
        counts["affected" if a["affected"] else a["state"]] += 1
    return counts
