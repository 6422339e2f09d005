"""Alert state: pending -> firing -> resolved with ``for`` durations; silences and acks.

Evaluated by the hub once per heartbeat interval (ObservabilityHub._eval_interval_s).  Only the
active hub notifies (log file and webhook through :class:`~observability_hub.notify.Notifier`).
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from observability_hub.rules import RULES, Rule

__all__ = ["AlertBook", "Sink"]

RESOLVED_KEPT = 50
SILENCE_MAX_S = 7 * 86400


class Sink(Protocol):
    def send(self, notice: dict[str, Any]) -> None: ...


@dataclass
class Alert:
    rule: Rule
    labels: dict[str, str]
    description: str
    pending_since: float  # wall clock
    firing_since: float | None = None
    acked_by: str = ""

    @property
    def fingerprint(self) -> str:
        return self.rule.name + "{" + ",".join(f"{k}={v}" for k, v in
                                               sorted(self.labels.items())) + "}"

    def as_dict(self, silenced: bool) -> dict[str, Any]:
        return {"alertname": self.rule.name, "severity": self.rule.severity,
                "state": "firing" if self.firing_since else "pending",
                "labels": self.labels, "summary": self.rule.summary,
                "description": self.description, "pending_since": self.pending_since,
                "firing_since": self.firing_since, "for_s": self.rule.for_s,
                "fingerprint": self.fingerprint, "acked_by": self.acked_by,
                "silenced": silenced}


@dataclass
class AlertBook:
    rules: tuple[Rule, ...] = RULES
    active: dict[str, Alert] = field(default_factory=dict)
    resolved: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RESOLVED_KEPT))
    silences: dict[str, dict[str, Any]] = field(default_factory=dict)

    def evaluate(self, view: dict[str, Any], sink: Sink | None) -> None:
        now = time.time()
        seen: set[str] = set()
        for rule in self.rules:
            for labels, description in rule.match(view).items():
                alert = Alert(rule, dict(labels), description, now)
                alert = self.active.setdefault(alert.fingerprint, alert)
                alert.description = description
                seen.add(alert.fingerprint)
                if alert.firing_since is None and now - alert.pending_since >= rule.for_s:
                    alert.firing_since = now
                    self._notify(alert, "firing", sink)
        for fingerprint in [f for f in self.active if f not in seen]:
            alert = self.active.pop(fingerprint)
            if alert.firing_since is not None:
                self.resolved.appendleft({**alert.as_dict(False), "state": "resolved",
                                          "resolved_at": now})
                self._notify(alert, "resolved", sink)

    def _notify(self, alert: Alert, status: str, sink: Sink | None) -> None:
        if sink is not None and not self.silenced(alert):
            sink.send({**alert.as_dict(False), "status": status, "ts": time.time()})

    def silenced(self, alert: Alert) -> bool:
        now = time.time()
        for sid in [s for s, v in self.silences.items() if v["until"] < now]:
            del self.silences[sid]
        return any(all(alert.labels.get(k, alert.rule.name if k == "alertname" else None) == v
                       for k, v in s["matchers"].items()) for s in self.silences.values())

    def silence(self, matchers: dict[str, str], duration_s: float, by: str,
                comment: str = "") -> dict[str, Any]:
        if not matchers or not all(isinstance(v, str) for v in matchers.values()):
            raise ValueError("matchers must be a non-empty map of label -> string")
        if not 0 < duration_s <= SILENCE_MAX_S:
            raise ValueError(f"duration_s must be in (0, {SILENCE_MAX_S}]")
        sid = uuid.uuid4().hex[:16]  # unique across both hubs and their restarts
        self.silences[sid] = {"id": sid, "matchers": dict(matchers), "by": by,
                              "comment": comment, "until": time.time() + duration_s}
        return self.silences[sid]

    def restore_silence(self, silence: dict[str, Any]) -> None:
        """A silence made earlier or on the other hub (its event log); expired ones are not."""
        if float(silence["until"]) > time.time() and isinstance(silence["matchers"], dict):
            self.silences[str(silence["id"])] = {
                "id": str(silence["id"]), "matchers": dict(silence["matchers"]),
                "by": str(silence.get("by", "")), "comment": str(silence.get("comment", "")),
                "until": float(silence["until"])}

    def ack(self, fingerprint: str, by: str) -> dict[str, Any]:
        alert = self.active.get(fingerprint)
        if alert is None:
            raise KeyError(fingerprint)
        alert.acked_by = by
        return alert.as_dict(self.silenced(alert))

    def document(self) -> dict[str, Any]:
        alerts = [a.as_dict(self.silenced(a)) for a in self.active.values()]
        alerts.sort(key=lambda a: (a["state"] != "firing", a["severity"] != "critical",
                                   a["alertname"]))
        return {"alerts": alerts, "resolved": list(self.resolved),
                "silences": list(self.silences.values()),
                "rules": [{"alertname": r.name, "severity": r.severity, "for_s": r.for_s,
                           "summary": r.summary} for r in self.rules]}
