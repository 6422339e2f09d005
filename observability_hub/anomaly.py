"""Anomaly detection over the hub's series; anomalies become ``MeshAnomaly`` warnings.

Each series (``series.Point`` keys) has its own model of normal (``anomaly_model``).  A signal
*counts* once it has been out of its band for ``min_duration_s`` (one step back inside is
forgiven); it *warns* when another signal of the same subject counts too (agreement), or on its
own once out for ``confirm_s``.  Request rate never warns alone: load changes are the
operators' doing, so it only backs another signal.  Health values (0/1) are never a signal.
An agent whose (transitive) dependency shows the same anomalous signal is marked as *behind*
it, so the slow agent is told apart from the healthy one in front of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.config.anomaly import AnomalyConfig
from observability_hub.anomaly_model import Band, CreepModel, LevelModel, SignalRule
from observability_hub.rollup import closure
from observability_hub.rules import Matches, Rule
from observability_hub.series import Point

__all__ = ["ANOMALY_RULE", "AnomalyDetector"]

NEVER_ALONE = ("rate",)


def signal_rules(cfg: AnomalyConfig) -> dict[str, SignalRule]:
    return {
        "latency_p95_s": SignalRule("up", cfg.latency_floor_s, cfg.latency_floor_ratio),
        "error_ratio": SignalRule("up", cfg.error_ratio_floor),
        "heartbeat_gap_s": SignalRule("up", cfg.heartbeat_gap_floor_s,
                                      cfg.heartbeat_gap_floor_ratio),
        "rate": SignalRule("both", 0.0, cfg.rate_floor_ratio),
    }


@dataclass
class _Run:
    """A series' current stretch outside its band."""

    since: float
    last_out: float
    band: Band
    observed: float


class AnomalyDetector:
    """Feed it each step's points (``observe``); ``anomalies()`` are the warnings now."""

    def __init__(self, cfg: AnomalyConfig,
                 dependencies: Mapping[str, Sequence[str]] | None = None) -> None:
        self.cfg = cfg
        self.rules = signal_rules(cfg)
        self.deps = {k: list(v) for k, v in (dependencies or {}).items()}
        self.models: dict[tuple[str, str, str], LevelModel | CreepModel] = {}
        self.runs: dict[tuple[str, str, str], _Run] = {}
        self.now = 0.0
        self._closures: dict[str, frozenset[str]] = {}

    def _n(self, seconds: float) -> int:
        return max(1, round(seconds / self.cfg.step_s))

    def _model(self, key: tuple[str, str, str]) -> LevelModel | CreepModel:
        model = self.models.get(key)
        if model is None:
            cfg = self.cfg
            if key[0] == "gpu":
                model = CreepModel(self._n(cfg.vram_creep_window_s),
                                   cfg.vram_creep_min_mb * 2**20)
            else:
                alpha = 1 - 0.5 ** (cfg.step_s / cfg.baseline_half_life_s)
                model = LevelModel(self.rules[key[2]], alpha, cfg.band_mads,
                                   self._n(cfg.residuals_s), self._n(cfg.warmup_s),
                                   self._n(cfg.relearn_after_s))
            self.models[key] = model
        return model

    def observe(self, points: Iterable[Point]) -> None:
        for p in points:
            if p.scope != "gpu" and p.signal not in self.rules:
                continue  # charted only (an SLO's budget has its own burn-rate alerts)
            self.now = max(self.now, p.t)
            band = self._model(p.key).step(p.value)
            run = self.runs.get(p.key)
            if band.outside:
                if run is None:
                    run = self.runs[p.key] = _Run(p.t, p.t, band, p.value)
                run.last_out, run.band, run.observed = p.t, band, p.value
            elif run is not None and p.t - run.last_out > 1.5 * self.cfg.step_s:
                del self.runs[p.key]
        for key in [k for k, r in self.runs.items()
                    if self.now - r.last_out > 1.5 * self.cfg.step_s]:
            del self.runs[key]  # the series stopped (no traffic, agent gone)

    def forget(self, scope: str, subject: str) -> None:
        for table in (self.models, self.runs):
            for key in [k for k in table if k[:2] == (scope, subject)]:
                del table[key]  # type: ignore[attr-defined]

    def _duration(self, run: _Run) -> float:
        return run.last_out - run.since + self.cfg.step_s

    def anomalies(self) -> list[dict[str, Any]]:
        """The warnings now: each with its signal, expected band, observed value, duration,
        the signals that agree, and the dependencies it is behind."""
        counting = {k: r for k, r in self.runs.items()
                    if self._duration(r) >= self.cfg.min_duration_s}
        by_subject: dict[tuple[str, str], list[str]] = {}
        for scope, subject, signal in counting:
            by_subject.setdefault((scope, subject), []).append(signal)
        out = []
        for (scope, subject, signal), run in sorted(counting.items()):
            agree = [s for s in by_subject[(scope, subject)] if s != signal]
            alone_ok = signal not in NEVER_ALONE and self._duration(run) >= self.cfg.confirm_s
            if agree or alone_ok:
                out.append(self._document(scope, subject, signal, run, agree, counting))
        return out

    def _document(self, scope: str, subject: str, signal: str, run: _Run, agree: list[str],
                  counting: Mapping[tuple[str, str, str], _Run]) -> dict[str, Any]:
        behind = []
        if scope == "agent":
            behind = sorted(d for d in closure(subject, self.deps, self._closures)
                            if ("agent", d, signal) in counting)
        band = run.band
        return {"scope": scope, "subject": subject, "signal": signal,
                "observed": run.observed, "expected": round(band.expected, 6),
                "low": round(band.low, 6), "high": round(band.high, 6),
                "since": run.since, "duration_s": round(self._duration(run), 1),
                "agree": sorted(agree), "behind": behind}


def _matches(view: dict[str, Any]) -> Matches:
    out: Matches = {}
    for a in view.get("anomalies", []):
        labels = (("scope", a["scope"]), ("signal", a["signal"]), ("subject", a["subject"]))
        text = (f"{a['signal']} of {a['subject']}: {a['observed']:g} outside the expected "
                f"{a['expected']:g} (band {a['low']:g} to {a['high']:g}) for "
                f"{a['duration_s']:g} s")
        if a["agree"]:
            text += "; agrees: " + ", ".join(a["agree"])
        if a["behind"]:
            text += "; behind: " + ", ".join(a["behind"])
        out[labels] = text
    return out


ANOMALY_RULE = Rule("MeshAnomaly", "warning", 0.0,
                    "a signal left its expected band (series anomaly)", _matches)
