"""The three rollout policies of the canary benchmark, each on the same live pair of instances.

- ``ours``: migration.canary.run_canary, the executor's own code: the band's traffic steps,
  each judged on both instances' real requests (migration.judge), crash gate from the launcher.
- ``all_at_once``: today's blue/green switch: 100 % to the new instance at once, then the
  probe gates of migration.gates (error ratio of the last 20 probes, p95 against a baseline
  of 20 probes measured before, ``latency_floor_ms``, the launcher's crash check) for the bake.
- ``flagger``: Flagger's canary analysis with its documented defaults: ``stepWeight`` 10 up to
  ``maxWeight`` 50, one check per interval of the requests that reached the new instance as its
  users' client saw them (as a mesh proxy counts an upstream's attempts, failed-over ones too):
  request success rate >= 99 %, p99 <= 500 ms; ``threshold`` 2 failed checks -> rollback; past
  maxWeight -> promote.

Each returns ``(decision, detail)``: ``promote`` or ``rollback`` (``inconclusive`` for ours
when it stopped without promoting).  A rollback puts all of the weight back on the old one.
"""

from __future__ import annotations

import time
from typing import Any

from canary_load import UserLoad

from common.base_agent.errors import MeshError
from migration.canary import Arm, Inconclusive, run_canary
from migration.gates import GateBreach, Target, measure_p95_s, watch
from migration.mesh import MeshControl

__all__ = ["FLAGGER", "Pair", "POLICIES"]

FLAGGER = {"step_weight": 10, "max_weight": 50, "success_rate_min": 0.99, "p99_max_s": 0.5,
           "threshold": 2}


class Pair:
    """The old and the new instance of one agent, and what a policy needs to move traffic."""

    def __init__(self, mesh: MeshControl, load: UserLoad, name: str, host: str, label: str,
                 old_id: str, new_id: str, old_endpoint: str, new_endpoint: str,
                 probe: dict[str, Any], gates: dict[str, Any], canary: dict[str, Any]) -> None:
        self.mesh, self.load, self.name, self.host, self.label = mesh, load, name, host, label
        self.old_id, self.new_id = old_id, new_id
        self.old_endpoint, self.new_endpoint = old_endpoint, new_endpoint
        self.probe, self.gates, self.canary = probe, gates, canary

    def restarts(self) -> int:
        return int(self.mesh.instances(self.host, self.name)[self.label]["restarts"])

    def target(self, baseline_p95_s: float = 0.0) -> Target:
        return Target(self.name, self.host, self.label, self.new_endpoint, self.probe,
                      self.gates, baseline_p95_s, self.restarts())

    def weights(self, new_pct: float) -> None:
        shares = {self.new_id: new_pct} if new_pct >= 100 else {self.old_id: 100 - new_pct,
                                                                self.new_id: new_pct}
        self.mesh.set_weights(self.name, shares)

    def back_to_old(self) -> None:
        self.mesh.set_weights(self.name, {self.old_id: 100})  # the new one may have crashed


def ours(pair: Pair) -> tuple[str, dict[str, Any]]:
    arm = Arm(pair.target(), pair.old_id, pair.new_id, pair.old_endpoint, pair.canary)
    decisions: list[dict[str, Any]] = []
    try:
        run_canary(pair.mesh, [arm], lambda _agent, d: decisions.append(d), lambda _line: None)
        return "promote", {"decisions": _brief(decisions)}
    except Inconclusive as exc:
        return "inconclusive", {"reason": exc.reason, "decisions": _brief(decisions)}
    except GateBreach as exc:
        return "rollback", {"reason": exc.reason, "decisions": _brief(decisions)}
    except MeshError as exc:  # as the executor: any error during a stage rolls it back
        return "rollback", {"reason": str(exc), "decisions": _brief(decisions)}


def _brief(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"weight_pct": d["weight_pct"], "decision": d["decision"], "reason": d["reason"],
             "source": d["source"].split(":")[0],
             "verdicts": {k: m["verdict"] for k, m in d["metrics"].items()},
             "latency": {k: d["metrics"]["latency"].get(k) for k in (
                 "n_old", "n_new", "median_old_ms", "median_new_ms", "effect", "p_greater")},
             "errors": {k: d["metrics"]["errors"].get(k) for k in (
                 "n_old", "errors_old", "n_new", "errors_new", "prob_worse")}}
            for d in decisions]


def all_at_once(pair: Pair, bake_s: float) -> tuple[str, dict[str, Any]]:
    baseline = measure_p95_s(pair.mesh, pair.old_endpoint, pair.probe)
    target = pair.target(baseline)
    pair.weights(100)
    try:
        watch(pair.mesh, [target], bake_s)
        return "promote", {"baseline_p95_ms": round(baseline * 1000, 3)}
    except (GateBreach, MeshError) as exc:
        return "rollback", {"reason": str(exc), "baseline_p95_ms": round(baseline * 1000, 3)}


def flagger(pair: Pair, interval_s: float) -> tuple[str, dict[str, Any]]:
    failed = 0
    weight = 0
    checks = []
    while True:
        weight += FLAGGER["step_weight"]
        if weight > FLAGGER["max_weight"]:
            return "promote", {"checks": checks}
        try:
            pair.weights(weight)
        except MeshError as exc:  # the canary left the registry (crashed): Flagger halts
            return "rollback", {"checks": checks, "reason": str(exc)}
        t0 = time.monotonic()
        time.sleep(interval_s)  # Flagger's analysis interval
        calls = [c for c in pair.load.window(t0, time.monotonic())
                 if pair.new_endpoint in c.route]  # attempts on it, as its proxy counts them
        ok = [c for c in calls if c.ok and c.endpoint == pair.new_endpoint]
        rate = len(ok) / len(calls) if calls else 1.0
        times = sorted(c.seconds for c in ok)
        p99 = times[min(len(times) - 1, int(0.99 * len(times)))] if times else 0.0
        good = rate >= FLAGGER["success_rate_min"] and p99 <= FLAGGER["p99_max_s"]
        checks.append({"weight": weight, "requests": len(calls), "success_rate": round(rate, 4),
                       "p99_ms": round(p99 * 1000, 2), "pass": good})
        failed += not good
        if failed >= FLAGGER["threshold"]:
            return "rollback", {"checks": checks}


POLICIES = ("ours", "all_at_once", "flagger")
