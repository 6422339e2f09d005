"""What the hub writes into its event log (``events.py``), and what it reads back at start.

Every hub logs the process events it receives (their ids derive from the launcher's event, so
the copy that reaches the other hub, or comes again, is the same event).  Only the active hub
logs what it concludes itself -- health transitions, alerts firing and resolved -- so the two
logs never hold two versions of one conclusion; each hub logs its own failover states.
Silences and acknowledgements are events too: they reach the other hub with the rest of the
log, and a restarted hub takes them back from its log (``restore``).  The hub calls everything
here with its lock held.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from common.hub.protocol import ProcessEvent
from observability_hub.aggregate import Aggregator
from observability_hub.alerting import SILENCE_MAX_S, AlertBook
from observability_hub.events import EventLog, event_id, make_event

__all__ = ["History"]

log = logging.getLogger(__name__)

COUNTED_MAX = 10_000  # process-event ids remembered as counted (a late copy is not)
KNOWN_STATES = ("passing", "warning", "critical")
DOWN_STATES = ("backoff", "stopped")  # a launcher's agent states without a process
EVICTIONS_NAMED = 3  # evicted models named in a vram event's summary


class History:
    def __init__(self, events: EventLog, hub: str, host: str = "") -> None:
        self.events = events
        self.hub = hub
        self.host = host  # the hub's own host: its start and failover events
        self.acks: dict[str, str] = {}  # alert fingerprint -> who acknowledged it
        self._states: dict[str, str] = {}  # agent -> its last state in the hub's view
        self._failover = ""
        self._counted: OrderedDict[str, None] = OrderedDict()
        self._silenced: set[str] = set()  # firing alerts a silence holds back
        self.evictions_seen: dict[str, int] = {}  # agent -> the evictions_total it last reported

    # -- facts from outside: every hub ---------------------------------------------------------
    def process_event(self, body: dict[str, Any]) -> bool:
        """A launcher's process event (as pushed, forwarded or listed by ``status``), logged
        once; True the first time this hub sees it, so the aggregator counts it once (a copy
        the edge forwards late, or one a relearned restart count includes, is not counted)."""
        event, agent, host = str(body["event"]), str(body["agent"]), str(body.get("host", ""))
        pid, code = int(body.get("pid") or 0), body.get("code")
        ts = float(body.get("ts") or time.time())
        summary = f"{agent} {event}" + (f" with code {code}" if code is not None else "") \
            + (f" (pid {pid})" if pid else "")
        eid = event_id(host, agent, event, pid, f"{ts:.6f}")
        self.events.add(make_event(f"process.{event}", summary, agent=agent, host=host, ts=ts,
                                   detail={"event": event, "pid": pid, "code": code}, id=eid))
        if eid in self._counted:
            return False
        self._counted[eid] = None
        if len(self._counted) > COUNTED_MAX:
            self._counted.popitem(last=False)
        return True

    def relearned(self, aggregator: Aggregator, host: str, status: dict[str, Any]) -> None:
        """A launcher's ``status``: its restart counts replace ours, an agent it holds down
        that we never heard of is down, one it calls crash-looping is, and its recent events
        are logged (kept once)."""
        now = time.monotonic()
        for agent in status["agents"]:
            record = aggregator.records.get(str(agent["name"]))
            if record is None or agent.get("instance"):
                continue
            record.restarts_total = int(agent["restarts"])
            code = agent.get("last_exit_code")
            code = code if isinstance(code, int) else None
            if agent.get("crash_loop") and record.event != ProcessEvent.CRASH_LOOP:
                record.on_event(ProcessEvent.CRASH_LOOP, code, 0, now)
            elif agent["state"] in DOWN_STATES and record.last_seen is None \
                    and not record.event:
                record.on_event(ProcessEvent.EXITED, code, 0, now)
        for event in status.get("events", []):
            if event.get("event") in {e.value for e in ProcessEvent}:
                self.process_event({"host": host, **event})

    # -- the hub's own conclusions -------------------------------------------------------------
    def started(self, role: str, state: str) -> None:
        self._failover = state
        self.events.add(make_event("hub", f"{self.hub} started ({role} hub, {state})",
                                   agent=self.hub, host=self.host,
                                   detail={"hub": self.hub, "role": role}))

    def evaluated(self, view: dict[str, Any], failover_state: str, active: bool) -> None:
        """After each evaluation: failover state changes, and (active hub) health changes
        and VRAM evictions."""
        self._evictions(view["agents"], active)
        if failover_state != self._failover:
            self.events.add(make_event(
                "failover", f"{self.hub}: {self._failover} -> {failover_state}",
                agent=self.hub, host=self.host,
                detail={"hub": self.hub, "from": self._failover, "to": failover_state}))
            self._failover = failover_state
        for agent in view["agents"]:
            name, state = agent["name"], agent["state"]
            before = self._states.get(name)
            self._states[name] = state
            if active and before != state and before in KNOWN_STATES and state in KNOWN_STATES:
                reasons = "; ".join(agent["reasons"]) or "ok"
                self.events.add(make_event(
                    "health", f"{name}: {before} -> {state} ({reasons})", agent=name,
                    host=agent["host"], detail={"from": before, "to": state,
                                                "reasons": agent["reasons"],
                                                "root_cause": agent["root_cause"]}))

    def _evictions(self, agents: list[dict[str, Any]], active: bool) -> None:
        """A VRAM pool's ``evictions_total`` gauge that grew: one ``vram`` event (the first
        report after a start is the baseline; a smaller total is a restarted pool)."""
        for agent in agents:
            total = agent["gauges"].get("evictions_total")
            if not isinstance(total, int):
                continue
            before = self.evictions_seen.get(agent["name"])
            self.evictions_seen[agent["name"]] = total
            if active and before is not None and total > before:
                named = [e for e in agent["gauges"].get("evictions_recent", [])
                         if isinstance(e, dict) and isinstance(e.get("n"), int)
                         and e["n"] > before]
                self.events.add(make_event(
                    "vram", f"{agent['name']}: {total - before} model(s) evicted from VRAM "
                            f"(total {total}){_evicted_text(named)}", agent=agent["name"],
                    host=agent["host"],
                    detail={"evictions": total - before, "evictions_total": total,
                            "evicted": named, "vram": agent["gauges"].get("vram", [])}))

    def send(self, notice: dict[str, Any]) -> None:
        """Alerting's sink (the active hub's): firing and resolved alerts."""
        status = str(notice["status"])
        labels = notice.get("labels", {})
        if status == "resolved":
            self.acks.pop(str(notice["fingerprint"]), None)
        self.events.add(make_event(
            f"alert.{status}", f"{notice['alertname']} {status}: {notice['description']}",
            agent=str(labels.get("agent", "")), host=str(labels.get("host", "")),
            detail={k: notice.get(k) for k in ("alertname", "severity", "labels",
                                               "fingerprint", "description")}))

    def held_back(self, alerts: list[dict[str, Any]], active: bool) -> None:
        """Firing alerts that a silence keeps from notifying (``alert.silenced``, once each,
        by the active hub): the history shows them though nobody was told."""
        now = {a["fingerprint"]: a for a in alerts if a["state"] == "firing" and a["silenced"]}
        new = now.keys() - self._silenced if active else set()
        for fingerprint in sorted(new):
            alert = now[fingerprint]
            self.events.add(make_event(
                "alert.silenced", f"{alert['alertname']} firing, silenced: "
                                  f"{alert['description']}",
                agent=str(alert["labels"].get("agent", "")),
                host=str(alert["labels"].get("host", "")),
                detail={k: alert.get(k) for k in ("alertname", "severity", "labels",
                                                  "fingerprint", "description")}))
        self._silenced = set(now)

    # -- silences and acknowledgements ---------------------------------------------------------
    def silenced(self, silence: dict[str, Any]) -> None:
        matchers = ", ".join(f"{k}={v}" for k, v in sorted(silence["matchers"].items()))
        self.events.add(make_event("silence", f"silence {matchers} by {silence['by']} "
                                              f"({silence.get('comment', '')})",
                                   agent=str(silence["matchers"].get("agent", "")),
                                   detail={"silence": silence}))

    def acked(self, alert: dict[str, Any], by: str) -> None:
        self.acks[alert["fingerprint"]] = by
        self.events.add(make_event("ack", f"{alert['fingerprint']} acknowledged by {by}",
                                   agent=str(alert["labels"].get("agent", "")),
                                   detail={"fingerprint": alert["fingerprint"], "by": by}))

    def apply(self, events: list[dict[str, Any]], alerts: AlertBook) -> None:
        """Silences, acks and resolutions among events (the peer's, or our own at start)."""
        for event in events:
            detail = event.get("detail") or {}
            kind = event.get("kind")
            try:
                if kind == "silence":
                    alerts.restore_silence(detail["silence"])
                elif kind == "ack":
                    self.acks[str(detail["fingerprint"])] = str(detail["by"])
                elif kind == "alert.resolved":
                    self.acks.pop(str(detail["fingerprint"]), None)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("ignored a %s event %s: %r", kind, event.get("id"), exc)
        self.reapply_acks(alerts)

    def reapply_acks(self, alerts: AlertBook) -> None:
        for fingerprint, by in self.acks.items():
            alert = alerts.active.get(fingerprint)
            if alert is not None and not alert.acked_by:
                alert.acked_by = by

    def restore(self, alerts: AlertBook) -> None:
        """A (re)started hub takes back its silences and open acknowledgements."""
        since = time.time() - SILENCE_MAX_S
        kept = self.events.query(since=since, kind="silence", limit=10_000)
        kept += self.events.query(since=since, kind="ack", limit=10_000)
        kept += self.events.query(since=since, kind="alert.resolved", limit=10_000)
        self.apply(sorted(kept, key=lambda e: e["ts"]), alerts)


def _evicted_text(named: list[dict[str, Any]]) -> str:
    """': NLLBAdapter on main_pc:0 for LocalFineTunerAgent, ...' (the first few)."""
    if not named:
        return ""
    shown = ", ".join(f"{e.get('model')} on {e.get('gpu')} for {e.get('for')}"
                      for e in named[:EVICTIONS_NAMED])
    more = f" and {len(named) - EVICTIONS_NAMED} more" if len(named) > EVICTIONS_NAMED else ""
    return f": {shown}{more}"
