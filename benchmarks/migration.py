"""Migration benchmark: breach -> old version serving, failed requests during a good migration,
and the plan's risk scores for the reference deployment.

    .venv/bin/python benchmarks/migration.py [--trials 10]   -> benchmarks/results/migration.json

A real mesh (launcher, registry, TunableAgent) in a temp dir.  Each trial applies a change whose
new version triples the probe latency; the executor measures from the breach to the old
instance answering a probe again (journal result ``rollback_s``).  Then one good blue/green
migration runs under a steady client (watching the registry, no retries) and failures count.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.testing.mesh import MeshRun, free_ports  # noqa: E402
from common.testing.processes import ProcessTracker  # noqa: E402
from migration import Journal, Observed, load_weights, parse_change, score  # noqa: E402
from tests.migration.conftest import Migrate, mesh_config  # noqa: E402
from tests.migration.roster import reference_config  # noqa: E402
from tests.migration.test_apply import GATES, PROBE, Load, _registry  # noqa: E402


def risk_scores() -> dict[str, float]:
    config = reference_config()
    change = parse_change({"version": 1, "changes": [{"agent": a.name, "version": "2"}
                                                      for a in config.agents]}, config)
    w = load_weights()
    got = {c.agent: score(config, c, Observed(), w) for c in change.changes}
    return dict(sorted(((k, v.score) for k, v in got.items()), key=lambda kv: -kv[1]))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(trials: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        procs = ProcessTracker(log_dir=tmp)
        ports = free_ports(4)
        mesh = MeshRun(procs, Path(tmp), mesh_config(Path(tmp), ports))
        try:
            mesh.up("main_pc")
            mesh.wait_ready(("main_pc",))
            migrate = Migrate(mesh, Path(tmp))
            rollback_s = []
            for _ in range(trials):
                path = migrate.change([{"agent": "Worker", "settings": {"delay_ms": 15},
                                        "port": ports[2], "bake_s": 5, "gates": GATES,
                                        "probe": PROBE}])
                migrate("apply", path, "--yes")
            journal = Journal(str(Path(mesh.run_dir) / "migrations.db"))
            rollback_s = [m["result"]["rollback_s"] for m in journal.history()
                          if "rollback_s" in m["result"]]
            breaches = [m["result"].get("breach") for m in journal.history()]
            journal.close()
            load = Load(_registry(mesh))
            load.thread.start()
            path = migrate.change([{"agent": "Worker", "settings": {"greeting": "v2"},
                                    "port": ports[2], "bake_s": 3, "gates": GATES,
                                    "probe": PROBE}])
            t0 = time.monotonic()
            good = migrate("apply", path, "--yes")
            load.stop.set()
            load.thread.join(5)
            return {"breach_to_old_serving_s": {
                        "trials": len(rollback_s), "p50": statistics.median(rollback_s),
                        "p95": pct(rollback_s, 0.95), "max": max(rollback_s),
                        "target_p95": 1.0, "breaches": breaches[:3]},
                    "good_migration_under_load": {
                        "requests_ok": load.ok, "requests_failed": load.failed,
                        "target_failed": 0, "result": good.stdout.strip().splitlines()[-1],
                        "duration_s": round(time.monotonic() - t0, 2)}}
        finally:
            mesh.close()
            procs.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    result = run(args.trials)
    result["risk_scores_reference"] = risk_scores()
    result["machine"] = {"python": platform.python_version(), "cpus": __import__("os").cpu_count()}
    out = ROOT / "benchmarks" / "results" / "migration.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "risk_scores_reference"}, indent=2))


if __name__ == "__main__":
    main()
