"""Anomaly detection measured: false positives, precision, recall and time to detect for the
hub's detector, the hub's static thresholds and the original system's z-score over health.

The normal trace: the reference mesh recorded under ``mesh load`` at varied rates
(benchmarks/anomaly_record.py -> benchmarks/data/anomaly_trace.json.gz), every recorded agent
replayed at accelerated time for ``--hours`` (``anomaly_replay``: one-minute blocks resampled),
at least 1,000 agent-hours.  The incidents: ``--per-kind`` one-hour replays of each kind, the
anomaly injected from minute 30 to minute 45 — latency step +50 %, error burst of 2 %, VRAM
creep (100 MB/min), heartbeat jitter (each beat delayed 0-2.5 s), and a slow agent (+100 %)
behind a healthy one that calls it (+30 %).  Every replay runs through the hub's own
``SeriesBook`` and ``AnomalyDetector`` (the shipped defaults of ``anomaly:``).

An alert is an episode of a (subject, signal) key warning.  One in an incident replay on the
incident's subjects (its agents, their hosts, the GPU), from its start to 5 minutes after its
end, is a true positive; every other alert is a false positive.  Recall: the share of
incidents whose target warned within that window.

    .venv/bin/python benchmarks/anomaly.py [--hours 13] [--per-kind 40] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from anomaly_baselines import HealthZScore, StaticThresholds  # noqa: E402
from anomaly_replay import Injection, Recording, Replay  # noqa: E402

from common.config.anomaly import AnomalyConfig  # noqa: E402
from observability_hub.anomaly import AnomalyDetector  # noqa: E402

TRACE = ROOT / "benchmarks" / "data" / "anomaly_trace.json.gz"
OUT = ROOT / "benchmarks" / "results" / "anomaly.json"
VRAM_TOTAL = {"main_pc/0": 24000 * 10**6, "pc2/0": 12000 * 10**6}  # startup_config.yaml
START_S, END_S, GRACE_S = 1800, 2700, 300
BEHIND = [("MemoryClient", "MemoryOrchestratorService"), ("Responder", "NLUAgent"),
          ("Responder", "EmotionEngine")]
KINDS = ("latency_step", "error_burst", "vram_creep", "heartbeat_jitter", "slow_behind_healthy")
DETECTORS = ("ours", "static_thresholds", "health_zscore")
INT_KNOBS = ("min_requests", "vram_creep_min_mb")


class Ours:
    def __init__(self, cfg: AnomalyConfig, deps: dict[str, list[str]]) -> None:
        self.detector = AnomalyDetector(cfg, deps)

    def step(self, t: float, points: list[Any], actions: dict[str, Any]) -> set[tuple[str, str]]:
        self.detector.observe(points)
        return {(a["subject"], a["signal"]) for a in self.detector.anomalies()}


def run(replay: Replay, cfg: AnomalyConfig, deps: dict[str, list[str]]) -> dict[str, list]:
    """Each detector's alerts: [(subject, signal, start t)]."""
    detectors = {"ours": Ours(cfg, deps), "static_thresholds": StaticThresholds(VRAM_TOTAL),
                 "health_zscore": HealthZScore()}
    alerts: dict[str, list] = {d: [] for d in detectors}
    before: dict[str, set] = {d: set() for d in detectors}
    for t, points, actions in replay.steps():
        for name, detector in detectors.items():
            now = detector.step(t, points, actions)
            alerts[name] += [(*key, t) for key in now - before[name]]
            before[name] = now
    return alerts


def incident(rec: Recording, kind: str, rng: random.Random, cfg: AnomalyConfig,
             busy: list[str]) -> tuple[Replay, set[str], str]:
    """A one-hour replay with one anomaly: (replay, subjects it may be seen on, target)."""
    gpus: dict[str, Injection | None] = {}
    if kind == "slow_behind_healthy":
        front, back = rng.choice(BEHIND)
        replay = Replay(rec, {front: front, back: back}, 1.0, rng, cfg, gpus)
        replay.inject(back, Injection(START_S, END_S, latency=2.0))
        replay.inject(front, Injection(START_S, END_S, latency=1.3))
        return replay, {front, back, rec.hosts[front], rec.hosts[back]}, back
    if kind == "vram_creep":
        gpu = rng.choice(sorted(VRAM_TOTAL))
        gpus = {gpu: Injection(START_S, END_S, vram_mb_per_min=100.0)}
        return Replay(rec, {}, 1.0, rng, cfg, gpus), {gpu}, gpu
    target = rng.choice(busy if kind != "heartbeat_jitter" else sorted(rec.hosts))
    replay = Replay(rec, {target: target}, 1.0, rng, cfg, gpus)
    injection = {"latency_step": Injection(START_S, END_S, latency=1.5),
                 "error_burst": Injection(START_S, END_S, error_ratio=0.02),
                 "heartbeat_jitter": Injection(START_S, END_S, jitter_s=2.5)}[kind]
    replay.inject(target, injection)
    return replay, {target, rec.hosts[target]}, target


def score(normal: dict[str, list], incidents: list[dict[str, Any]], agent_hours: float
          ) -> dict[str, Any]:
    out = {}
    for name in DETECTORS:
        fp = len(normal[name])
        fps = [{"replay": "normal", "subject": s, "signal": sig, "at_s": t}
               for s, sig, t in normal[name]]
        tp, detected, ttd = 0, 0, []
        by_kind: dict[str, list[float | None]] = {}
        for inc in incidents:
            first = None
            for subject, _signal, t in inc["alerts"][name]:
                if subject in inc["subjects"] and START_S <= t <= END_S + GRACE_S:
                    tp += 1
                    if subject == inc["target"] and (first is None or t < first):
                        first = t
                else:
                    fp += 1
                    fps.append({"replay": inc["kind"], "target": inc["target"],
                                "subject": subject, "signal": _signal, "at_s": t})
            by_kind.setdefault(inc["kind"], []).append(None if first is None else first - START_S)
            if first is not None:
                detected += 1
                ttd.append(first - START_S)
        alerts = tp + fp
        out[name] = {
            "alerts": alerts, "false_positives": fp, "true_positive_alerts": tp,
            "false_positives_per_1000_agent_hours": round(1000 * fp / agent_hours, 3),
            "false_positive_share_of_alerts": round(fp / alerts, 4) if alerts else None,
            "precision": round(tp / alerts, 4) if alerts else None,
            "recall": round(detected / len(incidents), 4),
            "time_to_detect_median_s": statistics.median(ttd) if ttd else None,
            "time_to_detect_p95_s": sorted(ttd)[int(0.95 * (len(ttd) - 1))] if ttd else None,
            "false_positive_alerts": fps[:50],
            "missed": [{"kind": inc["kind"], "target": inc["target"]} for inc in incidents
                       if not any(s == inc["target"] and START_S <= t <= END_S + GRACE_S
                                  for s, _, t in inc["alerts"][name])][:50],
            "by_kind": {k: {"recall": round(sum(v is not None for v in vals) / len(vals), 3),
                            "time_to_detect_median_s": statistics.median(
                                [v for v in vals if v is not None]) if any(
                                v is not None for v in vals) else None}
                        for k, vals in by_kind.items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=13.0, help="per recorded agent")
    parser.add_argument("--per-kind", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--set", nargs="*", default=[], metavar="KNOB=VALUE",
                        help="anomaly: knobs other than the shipped defaults (for tuning)")
    args = parser.parse_args()
    t0 = time.monotonic()
    knobs = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    rec, rng = Recording(TRACE), random.Random(args.seed)
    cfg = AnomalyConfig(**{k: int(v) if k in INT_KNOBS else v for k, v in knobs.items()})
    busy = sorted(n for n in rec.hosts if rec.requests_per_s(n) >= 2 * cfg.min_requests
                  / cfg.step_s)
    normal_replay = Replay(rec, {n: n for n in rec.hosts}, args.hours, rng, cfg,
                           dict.fromkeys(VRAM_TOTAL))
    normal = run(normal_replay, cfg, rec.deps)
    hours = normal_replay.agent_hours
    incidents = []
    for kind in KINDS:
        for _ in range(args.per_kind):
            replay, subjects, target = incident(rec, kind, rng, cfg, busy)
            incidents.append({"kind": kind, "subjects": subjects, "target": target,
                              "alerts": run(replay, cfg, rec.deps)})
            hours += replay.agent_hours
    result = {"trace": rec.meta, "normal_agent_hours": round(normal_replay.agent_hours, 1),
              "agent_hours": round(hours, 1), "incidents": len(incidents),
              "per_kind": args.per_kind, "seed": args.seed, "targets": busy,
              "config": cfg.model_dump(), "detectors": score(normal, incidents, hours),
              "wall_s": round(time.monotonic() - t0, 1)}
    Path(args.out).write_text(json.dumps(result, indent=2, default=list) + "\n")
    print(json.dumps({k: {m: v[m] for m in ("false_positives_per_1000_agent_hours",
                                            "false_positive_share_of_alerts", "precision",
                                            "recall", "time_to_detect_median_s")}
                      for k, v in result["detectors"].items()}, indent=1))


if __name__ == "__main__":
    main()
