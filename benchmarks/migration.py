"""Migration benchmark: breach -> old version serving, failed requests during a good migration,
and the plan's risk scores for the reference deployment.

    .venv/bin/python benchmarks/migration.py [--trials 10]   -> benchmarks/results/migration.json

A real mesh (launcher, registry, TunableAgent ``Worker`` at 5 ms per echo) in a temp dir.  Each
trial applies a change whose new version is a real regression, the kinds in turn: ``latency``
(each echo slower by 5x the good version's p95 as measured just before, 100..400 ms, so a
loaded machine that inflates the baseline still breaches the 2x gate), ``error_rate`` (half
the echoes fail) and ``crash`` (exits right after it starts).  The executor measures from the
breach to the old instance answering a probe again (journal result ``rollback_s``).  Before
every trial the good version must be serving alone on its port; a trial that got promoted
anyway (a missed breach) is rolled back (``Executor.rollback``, as ``mesh migrate rollback
ID``) and counted as missed.  Trials repeat until ``--trials`` breaches are recorded, giving up
after 3x as many attempts.  Then a good blue/green migration runs under a steady client
(watching the registry, no retries) and failures count; should a noise breach roll it back, it
is reported with its breach and tried again (at most 3 times).

The executor runs in this process (the library behind ``mesh migrate``, one journal lock for
the run): on a loaded shared machine merely starting the CLI took 20+ s a trial.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # ahead of this folder, where this file would shadow `migration`

from migration_driver import Migrator  # noqa: E402

from common.config import load_config  # noqa: E402
from common.testing.mesh import MeshRun, free_ports  # noqa: E402
from common.testing.migrate import (  # noqa: E402
    GATES,
    GOOD_SETTINGS,
    PROBE,
    Load,
    registry_endpoint,
    worker_config,
    worker_serving,
)
from common.testing.processes import ProcessTracker  # noqa: E402
from common.testing.reference import REFERENCE_CONFIG  # noqa: E402
from common.testing.wait import wait_until  # noqa: E402
from migration import Observed, load_weights, parse_change, score  # noqa: E402

BAD_VERSIONS: dict[str, dict[str, Any]] = {  # each a regression from GOOD_SETTINGS
    "latency": {"delay_ms": "5x the good p95, 100..400"},
    "error_rate": {"error_rate": 0.5},
    "crash": {"crash_on_start": True},
}
LATENCY_FACTOR, LATENCY_MIN_MS, LATENCY_MAX_MS = 5.0, 100.0, 400.0  # probe timeout is 1 s
BAKE_S = 5.0  # a breach comes after 10 probes; a missed one costs the whole bake
GOOD_BAKE_S = 3.0
GOOD_ATTEMPTS = 3
ATTEMPTS_PER_TRIAL = 3
RESTORE_TIMEOUT_S = 30.0
STARTUP_TIMEOUT_S = 60.0  # a loaded shared machine starts Python processes slowly
OUT = ROOT / "benchmarks" / "results" / "migration.json"


class GaveUp(RuntimeError):
    """Too few breaches recorded within the attempt budget, or the good version not back."""


class Bench:
    """The mesh under test: a registry and the Worker; ports[2] is for new instances."""

    def __init__(self, workdir: Path, procs: ProcessTracker) -> None:
        self.ports = free_ports(4)
        self.mesh = MeshRun(procs, workdir, worker_config(workdir, self.ports))
        self.good_endpoint = f"tcp://127.0.0.1:{self.ports[1]}"
        self.migrator: Migrator | None = None

    def up(self) -> Migrator:
        self.mesh.up("main_pc")
        self.mesh.wait_ready(("main_pc",), STARTUP_TIMEOUT_S)
        self.migrator = Migrator(self.mesh.config_path, self.mesh.run_dir)
        return self.migrator

    def change(self, settings: dict[str, Any], bake_s: float) -> list[dict[str, Any]]:
        return [{"agent": "Worker", "settings": settings, "port": self.ports[2],
                 "bake_s": bake_s, "gates": GATES, "probe": PROBE}]

    def close(self) -> None:
        if self.migrator is not None:
            self.migrator.close()
        self.mesh.close()


def good_version_serving(bench: Bench) -> bool:
    """The Worker alone on its original port, registered first, with the good settings."""
    if not worker_serving(bench.mesh, bench.ports[1]):
        return False
    settings = bench.mesh.client.call_endpoint(bench.good_endpoint, "settings",
                                               timeout_s=2.0)["settings"]
    return all(settings.get(k) == v for k, v in GOOD_SETTINGS.items()) and not any(
        settings.get(k) for k in ("error_rate", "crash_on_start"))


def restore_good(bench: Bench, migrator: Migrator, record: dict[str, Any]) -> str | None:
    """Roll back a migration that got promoted, then wait for the good version alone.
    Returns the rollback's resulting state when one was needed."""
    state = migrator.rollback(record["id"]) if record["state"] == "done" else None
    try:
        wait_until(lambda: good_version_serving(bench), RESTORE_TIMEOUT_S, interval_s=0.05,
                   what="the good Worker serving alone again")
    except TimeoutError as exc:
        raise GaveUp(f"after migration {record['id']} ({record['state']}): {exc}; "
                     f"executor said: {migrator.lines[-5:]}") from None
    return state


def bad_version(bench: Bench, migrator: Migrator, kind: str) -> tuple[dict[str, Any], float]:
    """The bad settings for kind and the bake they need; latency sized to the machine now."""
    if kind != "latency":
        return BAD_VERSIONS[kind], BAKE_S
    good_ms = migrator.p95_ms(bench.good_endpoint)
    delay_ms = round(min(max(LATENCY_FACTOR * good_ms, LATENCY_MIN_MS), LATENCY_MAX_MS))
    return {"delay_ms": delay_ms}, BAKE_S + 15 * delay_ms / 1000


def trial(bench: Bench, migrator: Migrator, kind: str) -> dict[str, Any]:
    """Apply one bad version, then restore the good one; the trial as recorded."""
    settings, bake_s = bad_version(bench, migrator, kind)
    t0 = time.monotonic()
    record = migrator.apply(bench.change(settings, bake_s), f"benchmark trial: {kind}")
    rolled = record["state"] == "rolled_back" and "rollback_s" in record["result"]
    out = {"kind": kind, "settings": settings, "migration": record["id"],
           "state": record["state"], "breach": record["result"].get("breach"),
           "rollback_s": record["result"].get("rollback_s") if rolled else None,
           "baseline_p95_ms": None if record["baseline_p95_s"] is None
           else round(record["baseline_p95_s"] * 1000, 1),
           "apply_s": round(time.monotonic() - t0, 2)}
    restored_by = restore_good(bench, migrator, record)
    if restored_by is not None:
        out["restored_by_rollback"] = restored_by
    return out


def run_trials(bench: Bench, migrator: Migrator, wanted: int) -> list[dict[str, Any]]:
    """Trials, kinds in turn, until `wanted` breaches (at most ATTEMPTS_PER_TRIAL x wanted)."""
    kinds = list(BAD_VERSIONS)
    trials: list[dict[str, Any]] = []
    attempts = ATTEMPTS_PER_TRIAL * wanted
    for i in range(attempts):
        t = trial(bench, migrator, kinds[i % len(kinds)])
        trials.append(t)
        print(json.dumps(t), flush=True)
        if sum(1 for x in trials if x["rollback_s"] is not None) >= wanted:
            return trials
    raise GaveUp(f"only {sum(1 for x in trials if x['rollback_s'] is not None)} of {wanted} "
                 f"breaches recorded in {attempts} attempts: "
                 f"{[(x['kind'], x['state'], x['breach']) for x in trials]}")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, Any]:
    return {"trials": len(values), "p50": round(statistics.median(values), 4),
            "p95": round(pct(values, 0.95), 4), "max": max(values)} if values else {"trials": 0}


def breach_report(trials: list[dict[str, Any]]) -> dict[str, Any]:
    times = [t["rollback_s"] for t in trials if t["rollback_s"] is not None]
    by_kind = {k: summary([t["rollback_s"] for t in trials
                           if t["kind"] == k and t["rollback_s"] is not None])
               for k in BAD_VERSIONS}
    missed = [t for t in trials if t["rollback_s"] is None]
    return {**summary(times), "target_p95": 1.0, "attempts": len(trials),
            "missed": len(missed), "by_kind": by_kind,
            "bad_versions": BAD_VERSIONS, "good_version": GOOD_SETTINGS, "per_trial": trials}


def good_migration(bench: Bench, migrator: Migrator) -> dict[str, Any]:
    """One good blue/green migration under a steady client; failed requests counted."""
    load = Load(registry_endpoint(bench.mesh))
    load.thread.start()
    t0 = time.monotonic()
    try:
        record = migrator.apply(bench.change({"greeting": "v2"}, GOOD_BAKE_S), "good change")
    finally:
        load.stop.set()
        load.thread.join(5)
    return {"result": record["state"], "breach": record["result"].get("breach"),
            "requests_ok": load.ok, "requests_failed": load.failed, "errors": load.errors[:3],
            "duration_s": round(time.monotonic() - t0, 2), "migration": record["id"]}


def good_migrations(bench: Bench, migrator: Migrator) -> dict[str, Any]:
    """Good migrations under load until one is promoted (a noise breach rolls one back)."""
    attempts = []
    for _ in range(GOOD_ATTEMPTS):
        attempts.append(good_migration(bench, migrator))
        if attempts[-1]["result"] == "done":
            break
        restore_good(bench, migrator, {"id": attempts[-1]["migration"], "state": "rolled_back"})
    last = attempts[-1]
    return {**last, "target_failed": 0, "gates": GATES, "attempts": len(attempts),
            "requests_failed_all_attempts": sum(a["requests_failed"] for a in attempts),
            "rolled_back_attempts": [a for a in attempts if a["result"] != "done"]}


def run(trials: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        procs = ProcessTracker(log_dir=tmp)
        bench = Bench(Path(tmp), procs)
        try:
            migrator = bench.up()
            restore_good(bench, migrator, {"id": 0, "state": "start"})
            report = breach_report(run_trials(bench, migrator, trials))
            return {"breach_to_old_serving_s": report,
                    "good_migration_under_load": good_migrations(bench, migrator)}
        finally:
            bench.close()
            procs.close()


def risk_scores() -> dict[str, float]:
    config = load_config(REFERENCE_CONFIG)
    change = parse_change({"version": 1, "changes": [{"agent": a.name, "version": "2"}
                                                      for a in config.agents]}, config)
    w = load_weights()
    got = {c.agent: score(config, c, Observed(), w) for c in change.changes}
    return dict(sorted(((k, v.score) for k, v in got.items()), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10, help="breaches to record (>= 1)")
    args = parser.parse_args()
    t0 = time.monotonic()
    try:
        result = run(max(1, args.trials))
    except GaveUp as exc:
        sys.exit(f"migration benchmark gave up: {exc}")
    result["risk_scores_reference"] = risk_scores()
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                         "loadavg_1m": round(os.getloadavg()[0], 2),
                         "benchmark_s": round(time.monotonic() - t0, 1)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    shown = {k: v for k, v in result.items() if k != "risk_scores_reference"}
    shown["breach_to_old_serving_s"] = {k: v for k, v in shown["breach_to_old_serving_s"]
                                        .items() if k != "per_trial"}
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
