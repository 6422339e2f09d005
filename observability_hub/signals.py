"""The hub's continuous signals: the one-hour series and the anomaly detector fed from them.

The hub calls ``heard`` for every report it takes and ``tick`` at every evaluation (under its
lock); once per ``step_s`` that samples the series and steps the detector.  ``document`` is
``GET /api/series``: what the dashboard's charts draw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from common.config.anomaly import AnomalyConfig
from observability_hub.anomaly import AnomalyDetector
from observability_hub.series import SeriesBook

__all__ = ["Signals"]


class Signals:
    def __init__(self, cfg: AnomalyConfig,
                 dependencies: Mapping[str, Sequence[str]] | None = None) -> None:
        self.cfg = cfg
        self.series = SeriesBook(cfg.step_s, cfg.history_s, cfg.min_requests, cfg.window_s)
        self.detector = AnomalyDetector(cfg, dependencies)

    def heard(self, agent: str, seen_at: float) -> None:
        self.series.heard(agent, seen_at)

    def tick(self, view: Mapping[str, Any], actions: Mapping[str, dict[str, Any]], now: float,
             wall: float) -> None:
        """Sample and detect when a step is due; ``actions``: live agents' counters."""
        if not self.series.due(now):
            return
        points = self.series.sample(view, actions, now, wall)
        if self.cfg.enabled:
            self.detector.observe(points)

    def forget(self, agents: Iterable[str]) -> None:
        for name in agents:
            self.series.forget(name)
            self.detector.forget("agent", name)

    def anomalies(self) -> list[dict[str, Any]]:
        return self.detector.anomalies() if self.cfg.enabled else []

    def document(self, agent: str | None) -> dict[str, Any]:
        """Hosts', GPUs' and SLOs' series, one agent's (``agent``, else the one with an anomaly,
        else the busiest), the agents that have series, and the anomalies now."""
        agents = self.series.series("agent")
        anomalies = self.anomalies()
        if agent is None or agent not in agents:
            agent = _pick(agents, anomalies)
        return {"step_s": self.cfg.step_s, "history_s": self.cfg.history_s,
                "hosts": self.series.series("host"), "gpus": self.series.series("gpu"),
                "slos": self.series.series("slo"),
                "agent": agent, "agent_series": agents.get(agent or "", {}),
                "agents": sorted(agents), "anomalies": anomalies}


def _pick(agents: Mapping[str, Mapping[str, list[list[float]]]],
          anomalies: list[dict[str, Any]]) -> str | None:
    flagged = [a["subject"] for a in anomalies if a["scope"] == "agent"]
    if flagged:
        return str(flagged[0])
    busiest = max(agents.items(), default=None,
                  key=lambda item: (item[1].get("rate") or [[0, 0.0]])[-1][1])
    return None if busiest is None else busiest[0]
