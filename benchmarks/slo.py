"""SLO benchmark: a compressed 7-day run with seeded outages; writes benchmarks/results/slo.json.

    .venv/bin/python benchmarks/slo.py [--days 7] [--seed 7] [--out PATH]

The hub's SLO engine (``observability_hub.slo.SloEngine``: the sampler, the SQLite history,
the burn-rate alerts and the report, exactly as the hub runs them) is driven by an
accelerated clock: every 10 simulated seconds it samples six agents on two hosts whose
heartbeats carry request counters and latency histograms built from a seeded traffic model
(diurnal rates, background errors and slow requests).  Seeded outages: full and partial error
bursts, a latency degradation, agents down (heartbeats stop; they come back as new instances
with counters from zero), and a slow 5x burn.  Halfway through, the engine is closed and a
new one opened on the same database (a hub restart).

Checked against the ground truth the simulator keeps:
  * measured SLI (per SLO, host and agent) equals the truth within 0.01 percentage points;
  * every outage appears in the report as an incident of its SLO and agent, with its duration;
  * the page and ticket alerts fire exactly when the workbook's conditions hold on the truth
    (both windows over 14.4x/6x for a page, 3x/1x for a ticket), at every evaluation.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.base_agent.metrics import LATENCY_BUCKETS_S  # noqa: E402
from observability_hub.slo import SloEngine  # noqa: E402
from observability_hub.slo_burn import firing  # noqa: E402
from observability_hub.slo_spec import (  # noqa: E402
    BURN_WINDOWS_S,
    MINUTE_S,
    SLO_ALERTS,
    SloPlan,
    SloSpec,
)

STEP_S = 10  # simulated seconds between two samples (the hub samples every 5 s)
Seen = dict[str, tuple[str, dict[str, Any] | None, bool]]
DAY_S = 86400
HOSTS = {"Api1": "main_pc", "Api2": "main_pc", "Api3": "pc2", "Api4": "pc2",
         "Store1": "main_pc", "Store2": "pc2"}
API = ["Api1", "Api2", "Api3", "Api4"]
THRESHOLD_S = 0.25
FAST_INDEX = LATENCY_BUCKETS_S.index(THRESHOLD_S)
SPECS = [
    SloSpec(name="api-availability", sli="availability", objective=0.999, window_s=7 * DAY_S,
            agents=API, hosts={a: HOSTS[a] for a in API}),
    SloSpec(name="api-latency", sli="latency", objective=0.99, window_s=7 * DAY_S,
            threshold_s=THRESHOLD_S, agents=API, hosts={a: HOSTS[a] for a in API}),
    SloSpec(name="mesh-heartbeat", sli="heartbeat", objective=0.995, window_s=7 * DAY_S,
            agents=list(HOSTS), hosts=dict(HOSTS)),
]


@dataclass(frozen=True)
class Outage:
    agent: str
    kind: str  # errors | slow | down | burn
    start: int  # seconds from the run's start
    duration_s: int
    share: float  # errors or slow requests' share; unused for down
    slo: str


def seeded_outages(rng: random.Random, days: int) -> list[Outage]:
    def at(day: float) -> int:
        return int(day * DAY_S + rng.uniform(0, 0.3) * DAY_S)

    return [
        Outage("Api1", "errors", at(0.5), rng.randint(15, 25) * 60, 1.0, "api-availability"),
        Outage("Api3", "errors", at(1.5), rng.randint(40, 50) * 60, 0.3, "api-availability"),
        Outage("Api2", "slow", at(2.2), rng.randint(25, 35) * 60, 0.4, "api-latency"),
        Outage("Store2", "down", at(2.8), rng.randint(8, 14) * 60 + rng.randint(0, 59), 1.0,
               "mesh-heartbeat"),
        Outage("Api4", "down", at(4.6), rng.randint(4, 7) * 60 + rng.randint(0, 59), 1.0,
               "mesh-heartbeat"),
        Outage("Api4", "burn", at(5.0), 16 * 3600, 0.02, "api-availability"),  # 5x of 4 agents
        Outage("Api1", "errors", at(min(days, 7) - 1.0), rng.randint(6, 10) * 60, 0.8,
               "api-availability"),
    ]


class Agent:
    """One simulated agent: counters as its heartbeat carries them, and the ground truth."""

    def __init__(self, name: str, rng: random.Random) -> None:
        self.name, self.rng = name, rng
        self.instance = 0
        self.requests = self.errors = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.was_down = False
        self.last = (0, 0, 0)  # requests, errors, slow of the last step

    def actions(self) -> dict[str, Any]:
        return {"infer": {"count": self.requests, "errors": {"internal": self.errors},
                          "buckets": list(self.buckets), "sum_s": 0.0}}

    def serve(self, n: int, errors: int, slow: int) -> None:
        self.requests += n
        self.errors += errors
        fast = n - slow
        for i in range(len(self.buckets)):
            self.buckets[i] += (fast if i >= FAST_INDEX else 0) + (slow if i >= FAST_INDEX + 2
                                                                  else 0)

    def restart(self) -> None:
        self.instance += 1
        self.requests = self.errors = 0
        self.buckets = [0] * len(self.buckets)


class Truth:
    """Per SLO: good/total per minute of occurrence and per agent (from the simulator)."""

    def __init__(self) -> None:
        self.minutes: dict[str, dict[int, list[float]]] = {s.name: {} for s in SPECS}
        self.agents: dict[tuple[str, str], list[float]] = {}

    def add(self, slo: str, agent: str, at: float, good: float, total: float) -> None:
        cell = self.minutes[slo].setdefault(int(at // MINUTE_S) * MINUTE_S, [0.0, 0.0])
        cell[0] += good
        cell[1] += total
        agg = self.agents.setdefault((slo, agent), [0.0, 0.0])
        agg[0] += good
        agg[1] += total


def rate_per_s(agent: str, t: float) -> float:
    base = 6.0 if agent.startswith("Api") else 0.0
    return base * (1.0 + 0.6 * math.sin(2 * math.pi * t / DAY_S))


def step(agents: dict[str, Agent], outages: list[Outage], t0: int, t: int,
         truth: Truth) -> Seen:
    """Advance every agent over (t - STEP_S, t]; what the hub sees at t."""
    seen: Seen = {}
    for name, agent in agents.items():
        active = [o for o in outages if o.agent == name and o.start <= t - t0 < o.start
                  + o.duration_s]
        down_s = _down_seconds(outages, name, t - t0)
        up = not any(o.kind == "down" for o in active)
        if not up:
            agent.was_down = True
        elif agent.was_down:
            agent.was_down = False
            agent.restart()  # back as a new process: counters from zero
        if up:
            _serve(agent, active, t)
        for spec in SPECS:
            if name in spec.agents and spec.sli == "heartbeat":
                truth.add(spec.name, name, t - 1, STEP_S - down_s, STEP_S)
        seen[name] = (f"{name}-{agent.instance}", agent.actions(), up)
    return seen


def _down_seconds(outages: list[Outage], name: str, rel: int) -> float:
    """True downtime of the agent within (rel - STEP_S, rel]."""
    out = 0.0
    for o in outages:
        if o.agent == name and o.kind == "down":
            out += max(0, min(rel, o.start + o.duration_s) - max(rel - STEP_S, o.start))
    return out


def _serve(agent: Agent, active: list[Outage], t: int) -> None:
    n = _poisson(agent.rng, rate_per_s(agent.name, t) * STEP_S)
    error_share = max([0.0002] + [o.share for o in active if o.kind in ("errors", "burn")])
    slow_share = max([0.002] + [o.share for o in active if o.kind == "slow"])
    errors = sum(1 for _ in range(n) if agent.rng.random() < error_share)
    slow = sum(1 for _ in range(n) if agent.rng.random() < slow_share)
    agent.serve(n, errors, slow)
    agent.last = (n, errors, slow)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))


def record_truth(agents: dict[str, Agent], seen: Seen, t: int, truth: Truth) -> None:
    for name, agent in agents.items():
        n, errors, slow = agent.last
        agent.last = (0, 0, 0)
        if not seen[name][2] or n == 0:
            continue
        for spec in SPECS:
            if name in spec.agents and spec.sli == "availability":
                truth.add(spec.name, name, t - 1, n - errors, n)
            elif name in spec.agents and spec.sli == "latency":
                truth.add(spec.name, name, t - 1, n - slow, n)


def truth_alerts(truth: Truth, spec: SloSpec, now: float) -> dict[str, bool]:
    ratios: dict[int, float | None] = {}
    for w in BURN_WINDOWS_S:
        good = total = 0.0
        for minute, (g, tt) in truth.minutes[spec.name].items():
            if minute >= now - w and minute <= now:
                good, total = good + g, total + tt
        ratios[w] = (total - good) / total if total > 0 else None
    return {sev: any(firing(a, ratios, spec.budget) for a in SLO_ALERTS if a.severity == sev)
            for sev in ("page", "ticket")}


def run(days: int, seed: int, workdir: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    outages = seeded_outages(rng, days)
    t0 = 1_700_000_000 - 1_700_000_000 % 3600  # a whole hour, so the report starts at t0
    plan = SloPlan(objectives=SPECS, report_every_s=DAY_S, db_path=str(workdir / "slo.db"),
                   report_dir=str(workdir / "reports"))
    engine = SloEngine(plan)
    agents = {name: Agent(name, random.Random(f"{seed}-{name}")) for name in HOSTS}
    truth = Truth()
    evals = {s.name: {"page": [0, 0], "ticket": [0, 0], "fired_at": {"page": [], "ticket": []}}
             for s in SPECS}  # [agree, disagree]
    restart_at = t0 + days * DAY_S // 2
    wall = time.perf_counter()
    for t in range(t0, t0 + days * DAY_S + 1, STEP_S):
        seen: Seen = step(agents, outages, t0, t, truth) if t > t0 else \
            {n: (f"{n}-0", a.actions(), True) for n, a in agents.items()}
        if t > t0:
            record_truth(agents, seen, t, truth)
        if t == restart_at:
            engine.close()
            engine = SloEngine(plan)
        engine.tick(seen, float(t))
        if t % 60 == 0 and t > t0:
            _compare(engine, truth, evals, t)
    elapsed = time.perf_counter() - wall
    end = t0 + days * DAY_S
    report = engine.report(float(end), days * DAY_S)
    reports_written = sorted(p.name for p in (workdir / "reports").iterdir())
    engine.close()
    return _summarise(report, truth, outages, evals, t0, elapsed, reports_written)


def _compare(engine: SloEngine, truth: Truth, evals: dict[str, Any], t: int) -> None:
    for state, spec in zip(engine.state, SPECS, strict=True):
        expected = truth_alerts(truth, spec, t) if t % 600 == 0 else None
        for sev in ("page", "ticket"):
            fired = bool(state[sev])
            if fired:
                evals[spec.name]["fired_at"][sev].append(t)
            if expected is not None:
                evals[spec.name][sev][0 if fired == expected[sev] else 1] += 1


def _spans(times: list[int], gap_s: int = 600) -> list[list[int]]:
    spans: list[list[int]] = []
    for t in times:
        if spans and t - spans[-1][1] <= gap_s:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    return spans


def _summarise(report: dict[str, Any], truth: Truth, outages: list[Outage],
               evals: dict[str, Any], t0: int, elapsed: float,
               reports_written: list[str]) -> dict[str, Any]:
    slos, worst_pp = [], 0.0
    for doc in report["slos"]:
        name = doc["slo"]
        g = sum(v[0] for k, v in truth.agents.items() if k[0] == name)
        tt = sum(v[1] for k, v in truth.agents.items() if k[0] == name)
        rows = [("slo", name, doc["sli"], g / tt)]
        for a in doc["agents"]:
            tg, ttot = truth.agents[(name, a["agent"])]
            rows.append(("agent", a["agent"], a["sli"], tg / ttot))
        diffs = [abs(m - e) * 100 for _, _, m, e in rows]
        worst_pp = max(worst_pp, *diffs)
        slos.append({"slo": name, "measured_percent": round(doc["sli"] * 100, 5),
                     "truth_percent": round(g / tt * 100, 5), "attained": doc["attained"],
                     "budget_spent": round(doc["budget_spent"], 4),
                     "max_abs_diff_pp": round(max(diffs), 6),
                     "incidents": len(doc["incidents"]),
                     "mttr_s": doc["mttr_s"],
                     "alerts_vs_truth": {s: {"agree": evals[name][s][0],
                                             "disagree": evals[name][s][1]}
                                         for s in ("page", "ticket")},
                     "page_spans_h": [[round((a - t0) / 3600, 2), round((b - t0) / 3600, 2)]
                                      for a, b in _spans(evals[name]["fired_at"]["page"])],
                     "ticket_spans_h": [[round((a - t0) / 3600, 2), round((b - t0) / 3600, 2)]
                                        for a, b in _spans(evals[name]["fired_at"]["ticket"])]})
    found = [_find(report, o, t0, evals) for o in outages]
    return {"slos": slos, "outages": found, "worst_abs_diff_pp": round(worst_pp, 6),
            "elapsed_s": round(elapsed, 1), "reports_written": reports_written}


def _find(report: dict[str, Any], o: Outage, t0: int, evals: dict[str, Any]) -> dict[str, Any]:
    doc = next(d for d in report["slos"] if d["slo"] == o.slo)
    start, end = t0 + o.start, t0 + o.start + o.duration_s
    hits = [i for i in doc["incidents"] if i["agent"] == o.agent and i["start"] < end
            and i["end"] > start]
    first = {sev: next((t - start for t in evals[o.slo]["fired_at"][sev]
                        if start <= t <= end + 3600), None) for sev in ("page", "ticket")}
    return {"agent": o.agent, "kind": o.kind, "slo": o.slo, "share": o.share,
            "start_h": round(o.start / 3600, 3), "duration_s": o.duration_s,
            "in_report": bool(hits),
            "reported_duration_s": sum(i["duration_s"] for i in hits) if hits else None,
            "page_after_s": first["page"], "ticket_after_s": first["ticket"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "slo.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slo-bench-") as tmp:
        result = run(args.days, args.seed, Path(tmp))
    result["targets"] = {
        "availability_within_0.01pp": result["worst_abs_diff_pp"] <= 0.01,
        "every_outage_in_report": all(o["in_report"] for o in result["outages"]),
        "alerts_match_workbook_thresholds": all(
            s["alerts_vs_truth"][k]["disagree"] == 0 for s in result["slos"]
            for k in ("page", "ticket")),
    }
    result["meta"] = {"days": args.days, "seed": args.seed, "step_s": STEP_S,
                      "python": platform.python_version(), "host": platform.node()}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["targets"]))


if __name__ == "__main__":
    main()
