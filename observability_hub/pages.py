"""The documents the hub's HTTP front serves (``HubPages``: /api/health, /api/alerts, /api/slo,
/api/series, /metrics, the dashboard) and its two writes (silence, ack).  Mixed into the hub
(ObservabilityHub); called from any thread, each under the hub's lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from observability_hub.aggregate import Aggregator
from observability_hub.alerting import AlertBook
from observability_hub.dashboard import DASHBOARD_HTML
from observability_hub.exposition import render
from observability_hub.failover import Failover
from observability_hub.history import History
from observability_hub.signals import Signals
from observability_hub.slo import SloEngine

__all__ = ["HubPagesMixin"]


class HubPagesMixin:
    lock: threading.Lock
    aggregator: Aggregator
    alerts: AlertBook
    failover: Failover
    history: History
    signals: Signals
    slo: SloEngine
    hub_status: Callable[[], dict[str, Any]]  # the hub's own

    def _view(self) -> dict[str, Any]:
        view = self.aggregator.view()
        view["hub"] = self.hub_status()
        view["anomalies"] = self.signals.anomalies()
        view["slos"] = self.slo.state  # burn rates and budget left per SLO (the dashboard's)
        if self.failover.peer is None:
            view["hub"]["peer_up"] = None  # no peer configured: nothing to alert on
        return view

    def health_document(self) -> dict[str, Any]:
        with self.lock:
            view = self._view()
            view["alerts"] = self.alerts.document()["alerts"]
            return view

    def alerts_document(self) -> dict[str, Any]:
        with self.lock:
            return {"hub": self.hub_status(), **self.alerts.document()}

    def _live_actions(self, now: float) -> dict[str, dict[str, Any]]:
        return {r.name: r.report.get("actions", {}) for r in
                self.aggregator.records.values() if r.up(now)}

    def slo_document(self, window_s: int | None) -> dict[str, Any]:
        with self.lock:
            return {"hub": self.hub_status(), "state": self.slo.state,
                    **self.slo.report(time.time(), window_s)}

    def series_document(self, agent: str | None) -> dict[str, Any]:
        with self.lock:
            return self.signals.document(agent)

    def _metrics_snapshot(self) -> dict[str, Any]:
        with self.lock:
            view = self._view()
            actions = self._live_actions(time.monotonic())
            return {"view": view, "actions": actions, "hub": view["hub"],
                    "alerts": self.alerts.document()["alerts"]}

    def metrics_text(self) -> bytes:
        return render(self._metrics_snapshot)

    def dashboard_html(self) -> bytes:
        return DASHBOARD_HTML.encode()

    def silence(self, body: dict[str, Any], by: str) -> dict[str, Any]:
        with self.lock:
            silence = self.alerts.silence(body["matchers"], float(body["duration_s"]), by,
                                          str(body.get("comment", "")))
            self.history.silenced(silence)
            return silence

    def ack(self, body: dict[str, Any], by: str) -> dict[str, Any]:
        with self.lock:
            alert = self.alerts.ack(str(body["fingerprint"]), by)
            self.history.acked(alert, by)
            return alert
