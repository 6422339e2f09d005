"""The hub's SLO engine: samples the SLIs from the aggregator, keeps their history, evaluates
the burn-rate alerts and writes the report every ``report_every_s``.

The hub calls :meth:`SloEngine.tick` under its lock while it is the active hub (a standby
hub sees only its own host and records nothing); ``state`` is what the alert rules read.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from observability_hub.slo_burn import burn_state
from observability_hub.slo_history import SliHistory
from observability_hub.slo_render import render_html, render_markdown
from observability_hub.slo_report import IncidentSource, build_report
from observability_hub.slo_sli import SliSampler
from observability_hub.slo_spec import SloPlan
from observability_hub.slo_store import SliStore

__all__ = ["SAMPLE_EVERY_S", "SloEngine"]

log = logging.getLogger(__name__)

SAMPLE_EVERY_S = 5.0
Agents = dict[str, tuple[str, dict[str, Any] | None, bool]]


class SloEngine:
    def __init__(self, plan: SloPlan, events: IncidentSource | None = None) -> None:
        self.plan = plan
        self.store = SliStore(plan.db_path)
        self.history = SliHistory(plan.objectives, self.store)
        self.sampler = SliSampler(plan.objectives, self.history.record)
        self.sampler.last.update(self.store.baselines())
        self.events = events
        self.state: list[dict[str, Any]] = []
        self._next_sample = 0.0
        self._next_report: float | None = None

    def tick(self, agents: Agents, now: float) -> None:
        """Sample, then re-evaluate the burn rates (at most every SAMPLE_EVERY_S)."""
        if not self.plan.objectives or now < self._next_sample:
            return
        self._next_sample = now + SAMPLE_EVERY_S
        rolled = self.history.roll(now)
        if rolled:  # the closed minute holds every sample so far
            self.store.save_baselines(self.sampler.last)
        self.sampler.sample(agents, now)
        self.state = burn_state(self.history, now)
        budget = {s["slo"]: s["budget_left"] for s in build_report(self.history, now)["slos"]}
        for entry in self.state:
            entry["budget_left"] = budget[entry["slo"]]  # over the SLO's window
        self._maybe_report(now)

    def report(self, now: float, window_s: int | None = None) -> dict[str, Any]:
        return build_report(self.history, now, window_s, self.events)

    def _maybe_report(self, now: float) -> None:
        if self.plan.report_dir is None:
            return
        if self._next_report is None:
            self._next_report = now + self.plan.report_every_s
        if now < self._next_report:
            return
        self._next_report = now + self.plan.report_every_s
        self.write_report(now)

    def write_report(self, now: float) -> Path:
        """slo-report.{json,md,html} in report_dir, each replaced atomically."""
        directory = Path(self.plan.report_dir or ".")
        directory.mkdir(parents=True, exist_ok=True)
        report = self.report(now)
        for suffix, text in (("json", json.dumps(report, indent=1)),
                             ("md", render_markdown(report)), ("html", render_html(report))):
            target = directory / f"slo-report.{suffix}"
            tmp = target.with_suffix(f".{suffix}.tmp")
            tmp.write_text(text)
            os.replace(tmp, target)
        log.info("SLO report written to %s", directory)
        return directory / "slo-report.md"

    def close(self) -> None:
        self.history.flush()
        self.store.save_baselines(self.sampler.last)
        self.store.close()
