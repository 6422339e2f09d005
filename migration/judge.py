"""The canary judge: the new instance against the old over the same window, metric by metric.

Each metric gets a verdict (Kayenta's vocabulary): ``Pass``, ``High`` (worse: higher than the
old), ``Low`` (lower than the old: better, for latency and errors) or ``NoData`` (too few
samples).  Every number behind a verdict is kept, so a decision can be explained.

- latency: Mann-Whitney U, one-sided (new slower), on the successful requests' seconds.
  ``High`` needs p < ``alpha`` *and* an effect above the floor: the new median at least
  ``latency_effect_min`` (relative) and ``latency_floor_ms`` (absolute) above the old one;
  with many samples a 1 % shift is significant but not worth a rollback.
- errors: beta-binomial.  With uniform priors, P(new error rate > old error rate) from the two
  Beta posteriors; ``High`` when that is at least ``error_prob_min`` and the observed rates
  differ by at least ``error_diff_min``.
- a metric is *suspect* when its evidence points the wrong way but is not yet conclusive
  (p below ``alpha_suspect``, or the probability above ``error_prob_suspect``, with the effect
  over its floor): not a breach, but not a pass either.

``score`` is the share of metrics with data that pass (Pass or Low), 0..100.  The decision:
a High at least ``CLEAR`` times past its floor -> ``rollback``; any other High -> ``confirm``
(the executor judges a fresh window of the same step: High again there is a rollback, so a
passing burst of noise on a shared machine does not roll back a good change); NoData or
suspect -> ``extend`` (more samples; the executor allows ``max_extensions`` and then stops
without promoting); otherwise ``promote``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np

__all__ = ["JUDGE_DEFAULTS", "Sample", "Verdict", "judge", "judge_errors", "judge_latency"]

Sample = tuple[float, bool]  # (seconds, answered without error)

JUDGE_DEFAULTS: dict[str, Any] = {
    "alpha": 0.01, "alpha_suspect": 0.2, "latency_effect_min": 0.1, "latency_floor_ms": 0.1,
    "error_prob_min": 0.99, "error_prob_suspect": 0.8, "error_diff_min": 0.005,
    "min_samples": 40,
}
_DRAWS = 20000
CLEAR = 3.0  # a High with an effect this many times its floor is not asked to repeat


class Verdict:
    PASS, HIGH, LOW, NODATA = "Pass", "High", "Low", "NoData"


@dataclass
class MetricResult:
    metric: str
    verdict: str
    suspect: bool
    numbers: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "verdict": self.verdict, "suspect": self.suspect,
                **self.numbers}


def _r(x: float, digits: int = 6) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), digits)


def judge_latency(old: list[float], new: list[float], t: dict[str, Any]) -> MetricResult:
    numbers: dict[str, Any] = {"n_old": len(old), "n_new": len(new), "test": "mann-whitney-u",
                               "alpha": t["alpha"], "effect_min": t["latency_effect_min"],
                               "floor_ms": t["latency_floor_ms"]}
    if min(len(old), len(new)) < t["min_samples"]:
        numbers["why"] = f"fewer than {t['min_samples']} successful requests on one side"
        return MetricResult("latency", Verdict.NODATA, False, numbers)
    from scipy.stats import mannwhitneyu  # here: scipy.stats costs every `mesh` command 0.7 s

    m_old, m_new = median(old), median(new)
    greater = mannwhitneyu(new, old, alternative="greater")
    less = mannwhitneyu(new, old, alternative="less")
    effect = (m_new - m_old) / m_old if m_old > 0 else 0.0
    over = effect >= t["latency_effect_min"] and (m_new - m_old) * 1000 >= t["latency_floor_ms"]
    under = -effect >= t["latency_effect_min"] and (m_old - m_new) * 1000 >= t["latency_floor_ms"]
    numbers.update({"median_old_ms": _r(m_old * 1000, 3), "median_new_ms": _r(m_new * 1000, 3),
                    "p95_old_ms": _r(float(np.percentile(old, 95)) * 1000, 3),
                    "p95_new_ms": _r(float(np.percentile(new, 95)) * 1000, 3),
                    "u": _r(greater.statistic, 1), "p_greater": _r(greater.pvalue),
                    "p_less": _r(less.pvalue),
                    "auc": _r(greater.statistic / (len(old) * len(new)), 4),
                    "effect": _r(effect, 4)})
    if greater.pvalue < t["alpha"] and over:
        verdict = Verdict.HIGH
    elif less.pvalue < t["alpha"] and under:
        verdict = Verdict.LOW
    else:
        verdict = Verdict.PASS
    suspect = bool(verdict == Verdict.PASS and over and greater.pvalue < t["alpha_suspect"])
    return MetricResult("latency", verdict, suspect, numbers)


def prob_greater(e_new: int, n_new: int, e_old: int, n_old: int) -> float:
    """P(p_new > p_old) under Beta(1 + errors, 1 + successes) posteriors (seeded draws, so
    the same counts always give the same answer)."""
    rng = np.random.default_rng(12345)
    new = rng.beta(1 + e_new, 1 + n_new - e_new, size=_DRAWS)
    old = rng.beta(1 + e_old, 1 + n_old - e_old, size=_DRAWS)
    return float(np.mean(new > old))


def judge_errors(e_old: int, n_old: int, e_new: int, n_new: int,
                 t: dict[str, Any]) -> MetricResult:
    numbers: dict[str, Any] = {"n_old": n_old, "errors_old": e_old, "n_new": n_new,
                               "errors_new": e_new, "test": "beta-binomial",
                               "prob_min": t["error_prob_min"], "diff_min": t["error_diff_min"]}
    if min(n_old, n_new) < t["min_samples"]:
        numbers["why"] = f"fewer than {t['min_samples']} requests on one side"
        return MetricResult("errors", Verdict.NODATA, False, numbers)
    r_old, r_new = e_old / n_old, e_new / n_new
    p_worse = prob_greater(e_new, n_new, e_old, n_old)
    diff = r_new - r_old
    numbers.update({"rate_old": _r(r_old), "rate_new": _r(r_new), "diff": _r(diff),
                    "prob_worse": _r(p_worse, 4)})
    if p_worse >= t["error_prob_min"] and diff >= t["error_diff_min"]:
        verdict = Verdict.HIGH
    elif 1 - p_worse >= t["error_prob_min"] and -diff >= t["error_diff_min"]:
        verdict = Verdict.LOW
    else:
        verdict = Verdict.PASS
    suspect = verdict == Verdict.PASS and e_new > 0 and p_worse >= t["error_prob_suspect"]
    return MetricResult("errors", verdict, suspect, numbers)


def _clear(r: MetricResult, t: dict[str, Any]) -> bool:
    """A High far past its floor: no second window needed to believe it."""
    if r.metric == "latency":
        return bool(r.numbers["effect"] >= CLEAR * t["latency_effect_min"])
    return bool(r.numbers["diff"] >= CLEAR * t["error_diff_min"])


def _not_judged(why: str) -> MetricResult:
    return MetricResult("latency", Verdict.NODATA, False, {"n_old": 0, "n_new": 0, "why": why})


def judge(old: list[Sample], new: list[Sample], thresholds: dict[str, Any],
          errors: tuple[list[Sample], list[Sample]] | None = None,
          latency_skipped: str | None = None) -> dict[str, Any]:
    """Verdicts, score and decision (``promote`` / ``extend`` / ``confirm`` / ``rollback``)
    with the numbers behind them, JSON-ready.  ``errors``: other (old, new) samples for the
    error metric (the executor passes every step's so far: an error rate does not depend on
    the traffic share, so all of them count, while latency is compared within one window).
    ``latency_skipped``: why latency is not compared in this window (NoData that asks for no
    more samples: at 100 % the old instance serves nothing, and an idle instance against a
    loaded one measures the load, not the version)."""
    t = {**JUDGE_DEFAULTS, **thresholds}
    e_old, e_new = errors or (old, new)
    results = [
        _not_judged(latency_skipped) if latency_skipped else
        judge_latency([s for s, ok in old if ok], [s for s, ok in new if ok], t),
        judge_errors(sum(not ok for _, ok in e_old), len(e_old),
                     sum(not ok for _, ok in e_new), len(e_new), t),
    ]
    scored = [r for r in results if r.verdict != Verdict.NODATA]
    score = round(100 * sum(r.verdict in (Verdict.PASS, Verdict.LOW) for r in scored)
                  / len(scored), 1) if scored else None
    high = [r.metric for r in results if r.verdict == Verdict.HIGH]
    clear = [r.metric for r in results if r.verdict == Verdict.HIGH and _clear(r, t)]
    unsure = [r.metric for r in results if r.suspect or r.verdict == Verdict.NODATA and not (
        r.metric == "latency" and latency_skipped)]
    if clear:
        decision, reason = "rollback", f"{', '.join(clear)} High (clear)"
    elif high:
        decision, reason = "confirm", f"{', '.join(high)} High"
    elif unsure:
        decision, reason = "extend", f"{', '.join(unsure)} inconclusive"
    else:
        decision, reason = "promote", "every metric Pass or Low"
    return {"decision": decision, "reason": reason, "score": score,
            "metrics": {r.metric: r.as_dict() for r in results}, "thresholds": t}
