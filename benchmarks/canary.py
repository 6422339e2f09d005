"""Canary benchmark: our judged traffic steps vs today's all-at-once switch vs a Flagger-like
fixed-threshold analysis, on the same live instances under the same user load.

    .venv/bin/python benchmarks/canary.py [--trials 20] [--good-trials 50] [--step-bake 0.75]
        -> benchmarks/results/canary.json

What is real: a mesh (launcher, registry) of real processes; the old ``Worker`` (TunableAgent,
2 ms per ``echo``) and, per fault kind, a new instance started by the launcher beside it with
the fault injected in its settings (good change; latency +20 % and +50 %; errors +1 and +5
points; a crash on 1 % of requests, after which the launcher restarts it); users (two threads,
WatchingClients whose ``call`` chooses by the registry's weights and fails over once to
another weighted instance within its retry budget; no other retries) sending `mesh load`'s mix
as three payload sizes of ``echo`` at ``--rate``; the registry's weights; each instance's own
record of the requests it served; the policies' decisions (ours is the executor's
migration.canary code with the high band's steps and judge from migration/weights.yaml).
What is scaled: each traffic step bakes ``--step-bake`` seconds (the band says 75 s), the
all-at-once bake is as long as our four steps, Flagger's interval is ``--step-bake``, so a
trial takes seconds, not minutes.  Not promoted means nothing: after every trial all of the
weight goes back to the old instance; the next trial starts from there.

Per policy and kind: detection (rolled back, or for ours also stopped inconclusive) and false
rollbacks on good changes, time to decision, requests users saw fail (and on what), requests
that failed over, requests that reached the bad version within the trial, and for rollbacks
the time from the decision to the first user request the old instance answered.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # ahead of this folder, where this file would shadow `migration`

import canary_policies as policies  # noqa: E402
from canary_load import UserLoad  # noqa: E402

from common.config import load_config  # noqa: E402
from common.testing.mesh import MeshRun, free_ports  # noqa: E402
from common.testing.migrate import PROBE, registry_endpoint, worker_config  # noqa: E402
from common.testing.processes import ProcessTracker  # noqa: E402
from common.testing.wait import wait_until  # noqa: E402
from migration.change import Gates, Probe  # noqa: E402
from migration.mesh import MeshControl  # noqa: E402
from migration.plan import _canary  # noqa: E402
from migration.risk import load_weights  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "canary.json"
BASE_MS = 2.0
GOOD = {"delay_ms": BASE_MS}
KINDS: dict[str, dict[str, Any]] = {
    "good": {},
    "latency_+20%": {"delay_ms": BASE_MS * 1.2},
    "latency_+50%": {"delay_ms": BASE_MS * 1.5},
    "errors_+1pt": {"error_rate": 0.01},
    "errors_+5pt": {"error_rate": 0.05},
    "crash_1%": {"crash_rate": 0.01},
}
BAND = "high"
STARTUP_S = 60.0
SETTLE_S = 0.3  # after a trial: in-flight calls land before the window closes


def band(step_bake_s: float) -> tuple[dict[str, Any], dict[str, Any]]:
    found = next(b for b in load_weights()["bands"] if b["name"] == BAND)
    canary = _canary(found, None)
    canary["step_bake_s"] = step_bake_s
    gates = Gates(error_rate_max=found["error_rate_max"],
                  latency_p95_ratio_max=found["latency_p95_ratio_max"]).model_dump()
    return canary, gates


class Bench:
    def __init__(self, workdir: Path, procs: ProcessTracker, rate: float) -> None:
        self.ports = free_ports(4)
        self.run = MeshRun(procs, workdir, worker_config(workdir, self.ports, dict(GOOD)))
        self.rate = rate
        self.old_endpoint = f"tcp://127.0.0.1:{self.ports[1]}"
        self.new_endpoint = f"tcp://127.0.0.1:{self.ports[2]}"

    def up(self) -> None:
        self.run.up("main_pc")
        self.run.wait_ready(("main_pc",), STARTUP_S)
        self.config = load_config(self.run.config_path)
        self.mesh = MeshControl(self.config, self.run.run_dir)
        self.load = UserLoad(registry_endpoint(self.run), "Worker", self.rate).start()

    def close(self) -> None:
        if hasattr(self, "load"):
            self.load.close()
            self.mesh.close()
        self.run.close()

    def start_new(self, kind: str, label: str) -> None:
        old = self.config.agent("Worker")
        new = old.model_copy(update={"settings": {**old.settings, **GOOD, **KINDS[kind]},
                                     "port": self.ports[2]})
        self.mesh.admit("Worker", [self.old_endpoint, self.new_endpoint])
        self.mesh.launcher("main_pc", "instance_start", {
            "name": "Worker", "instance": label,
            "definition": new.model_dump(mode="json", by_alias=True)})

    def ids(self, label: str) -> tuple[str, str] | None:
        """(old, new) instance ids once the new one is ready and registered."""
        found = self.mesh.instances("main_pc", "Worker").get(label)
        if not found or not found["ready"]:
            return None
        old = self.mesh.instance_at("Worker", self.old_endpoint)
        new = self.mesh.instance_at("Worker", self.new_endpoint)
        return (old["instance_id"], new["instance_id"]) if old and new else None

    def stop_new(self, label: str) -> None:
        self.mesh.set_weights("Worker", {self.mesh.instance_at(
            "Worker", self.old_endpoint)["instance_id"]: 100})
        self.mesh.launcher("main_pc", "instance_stop", {"name": "Worker", "instance": label})
        wait_until(lambda: label not in self.mesh.instances("main_pc", "Worker"), 30,
                   interval_s=0.05, what="new instance stopped")
        self.mesh.admit("Worker", [])


def trial(bench: Bench, pair: policies.Pair, policy: str, kind: str,
          step_bake_s: float) -> dict[str, Any]:
    pair.back_to_old()
    steps = len(pair.canary["steps"])
    t0 = time.monotonic()
    if policy == "ours":
        decision, detail = policies.ours(pair)
    elif policy == "all_at_once":
        decision, detail = policies.all_at_once(pair, steps * step_bake_s)
    else:
        decision, detail = policies.flagger(pair, step_bake_s)
    t1 = time.monotonic()
    pair.back_to_old()
    time.sleep(SETTLE_S)  # let calls sent before the switch back land (measurement window)
    calls = bench.load.window(t0, t1 + SETTLE_S)
    after = [c for c in bench.load.window(t1, time.monotonic())
             if c.ok and c.endpoint == bench.old_endpoint]
    names = {bench.old_endpoint: "old", bench.new_endpoint: "new"}
    failed = Counter(f"{names.get(c.endpoint, 'none')}: {c.error.split(':')[0]}"
                     for c in calls if not c.ok)
    return {"kind": kind, "policy": policy, "decision": decision,
            "decision_s": round(t1 - t0, 3), "requests": len(calls),
            "user_failures": sum(not c.ok for c in calls), "user_failures_by": dict(failed),
            "failed_over": sum(bool(c.failed_on) for c in calls),
            "served_by_new": sum(bench.new_endpoint in c.route for c in calls),
            "old_serving_after_s": round(after[0].at + after[0].seconds - t1, 4)
            if after else None, "loadavg_1m": round(os.getloadavg()[0], 2), **detail}


def run_kind(bench: Bench, kind: str, trials: int, step_bake_s: float,
             out: list[dict[str, Any]], chosen: tuple[str, ...]) -> None:
    label = f"bench-{len(out)}"
    bench.start_new(kind, label)
    canary, gates = band(step_bake_s)
    try:
        for i in range(trials):
            for policy in chosen[i % len(chosen):] + chosen[:i % len(chosen)]:
                if bench.mesh.instances("main_pc", "Worker")[label]["restarts"]:
                    # crashed in the last trial: a fresh process, not the launcher's growing
                    # restart backoff (1 s doubling) between trials
                    bench.stop_new(label)
                    bench.start_new(kind, label)
                old_id, new_id = wait_until(lambda: bench.ids(label), STARTUP_S,
                                            interval_s=0.05, what="new instance ready")
                pair = policies.Pair(bench.mesh, bench.load, "Worker", "main_pc", label,
                                     old_id, new_id, bench.old_endpoint, bench.new_endpoint,
                                     Probe(**PROBE).model_dump(), gates, canary)
                out.append(trial(bench, pair, policy, kind, step_bake_s))
                r = out[-1]
                print(f"{kind:<13} {policy:<11} {r['decision']:<12} {r['decision_s']:6.2f} s "
                      f"failed {r['user_failures']:>3} by-new {r['served_by_new']:>4}",
                      flush=True)
    finally:
        bench.stop_new(label)


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def _spread(values: list[float]) -> dict[str, float] | None:
    return {"min": min(values), "median": round(statistics.median(values), 2),
            "max": max(values)} if values else None


def summarize(trials: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for policy in policies.POLICIES:
        mine = [t for t in trials if t["policy"] == policy]
        kinds: dict[str, Any] = {}
        for kind in KINDS:
            rows = [t for t in mine if t["kind"] == kind]
            stopped = [t for t in rows if t["decision"] != "promote"]
            back = [t["old_serving_after_s"] for t in stopped
                    if t["old_serving_after_s"] is not None]
            kinds[kind] = {
                "trials": len(rows),
                ("false_rollback_rate" if kind == "good" else "detection_rate"):
                    round(len(stopped) / len(rows), 3) if rows else None,
                "decision_s_mean": _mean([t["decision_s"] for t in rows]),
                "user_failures": sum(t["user_failures"] for t in rows),
                "failed_over": sum(t["failed_over"] for t in rows),
                "served_by_bad_version": 0 if kind == "good" else sum(
                    t["served_by_new"] for t in rows),
                "old_serving_after_rollback_p95_s": round(sorted(back)[min(
                    len(back) - 1, int(0.95 * len(back)))], 4) if back else None,
            }
        out[policy] = kinds
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20, help="trials per kind and policy")
    parser.add_argument("--good-trials", type=int, default=50,
                        help="trials of the good change per policy (false rollbacks <= 2 %% "
                             "needs 50 to be measurable)")
    parser.add_argument("--step-bake", type=float, default=0.75,
                        help="seconds per traffic step (and per Flagger interval)")
    parser.add_argument("--rate", type=float, default=200.0, help="user requests per second")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset")
    parser.add_argument("--policies", default=",".join(policies.POLICIES),
                        help="comma-separated subset")
    args = parser.parse_args()
    started = time.monotonic()
    trials: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        procs = ProcessTracker(log_dir=tmp)
        bench = Bench(Path(tmp), procs, args.rate)
        try:
            bench.up()
            for kind in args.kinds.split(","):
                run_kind(bench, kind, args.good_trials if kind == "good" else args.trials,
                         args.step_bake, trials,
                         tuple(args.policies.split(",")))
        finally:
            bench.close()
            procs.close()
    canary, gates = band(args.step_bake)
    result = {
        "command": " ".join(["benchmarks/canary.py", *sys.argv[1:]]),
        "summary": summarize(trials),
        "setup": {"band": BAND, "canary": canary, "all_at_once_gates": gates,
                  "flagger": policies.FLAGGER, "old_version": GOOD, "new_versions": KINDS,
                  "rate_per_s": args.rate, "step_bake_s": args.step_bake,
                  "real": "processes (launcher, registry, old and new Worker), registry "
                          "weights, user calls through Client.call (weighted choice, fail-over "
                          "to another weighted instance within the retry budget), each "
                          "instance's request log, the executor's canary and judge code with "
                          "the high band of migration/weights.yaml",
                  "scaled": "bake per step and Flagger interval (--step-bake, the band says "
                            "75 s), all-at-once bake = 4 steps; one agent (Worker, 2 ms per "
                            "echo) stands for the mesh; `mesh load`'s mix (70/20/10 %) is echo "
                            "at three payload sizes (a sentence, 2 KB, 16 KB) at --rate"},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "loadavg_1m": round(os.getloadavg()[0], 2),
                    "loadavg_1m_during": _spread([t["loadavg_1m"] for t in trials]),
                    "benchmark_s": round(time.monotonic() - started, 1)},
        "per_trial": trials,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
