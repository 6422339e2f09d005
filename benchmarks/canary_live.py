"""A judged canary on the live reference mesh under `mesh load`: a good and a bad change of
RequestCoordinator (the front door, 70 % of `mesh load`'s mix), as an engineer runs them.

    .venv/bin/python benchmarks/canary_live.py [--workdir DIR] [--rate 20]
        -> benchmarks/results/canary_live.json

Brings up the shipped startup_config.yaml moved to 127.0.22.1/127.0.22.2 (state and logs under
the workdir), waits for 78/78 ready, starts `mesh load` for the whole run, then `mesh migrate
apply` of a good change (a new version of the same code) and of a bad one (its responder stage
names an agent that does not exist: every request fails), each judged step by step on the
requests the two instances really served.  Writes both migrations' results and every judge
decision (`mesh migrate show ID --json`), and what the load's users saw.  Nothing is scaled:
the medium band's steps (10 -> 50 -> 100 %, 40 s each) and judge from migration/weights.yaml.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.testing.reference import reference_config  # noqa: E402
from common.testing.wait import wait_until  # noqa: E402

HOSTS = {"main_pc": "127.0.22.1", "pc2": "127.0.22.2"}
MESH = [sys.executable, "-m", "common.cli.main"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
RESULT = ROOT / "benchmarks" / "results" / "canary_live.json"
CHANGES = {
    "good": {"agent": "RequestCoordinator", "module": "main_pc.agents.core:RequestCoordinator",
             "version": "2.0"},
    "bad": {"agent": "RequestCoordinator", "module": "main_pc.agents.core:RequestCoordinator",
            "version": "2.1", "settings": {"stages": {"responder": "ResponderThatIsGone"}}},
}


def mesh(work: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*MESH, *args], cwd=work, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def ready(work: Path) -> int:
    out = mesh(work, "status", "--json", timeout=30)
    if out.returncode != 0:
        return 0
    return sum(bool(a["ready"]) for h in json.loads(out.stdout)["hosts"] for a in h["agents"])


def migrate(work: Path, kind: str) -> dict:
    (work / f"{kind}.yaml").write_text(yaml.safe_dump({"version": 1, "changes": [CHANGES[kind]]}))
    started = time.monotonic()
    applied = mesh(work, "migrate", "apply", f"{kind}.yaml", "--yes")
    took = time.monotonic() - started
    history = json.loads(mesh(work, "migrate", "history", "--json").stdout or "[]")
    mid = max(m["id"] for m in history)
    shown = json.loads(mesh(work, "migrate", "show", str(mid), "--json").stdout)
    return {"change": CHANGES[kind], "rc": applied.returncode, "seconds": round(took, 1),
            "result": shown.get("state"), "decisions": shown.get("decisions", [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default="/tmp/canary_live")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--out", default=str(RESULT))
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=False)
    config = reference_config(work, addresses=HOSTS)
    (work / "startup_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    up = subprocess.Popen([*MESH, "up"], cwd=work, env=ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: ready(work) == 78, 180, 1.0, "78/78 ready")
        load = subprocess.Popen([*MESH, "load", "--rate", str(args.rate), "--duration", "360",
                                 "--json"], cwd=work, env=ENV, stdout=subprocess.PIPE, text=True)
        time.sleep(20)  # users' traffic under way before the first change, as in production
        result = {"command": "python benchmarks/canary_live.py", "rate": args.rate,
                  "loadavg_before": os.getloadavg()[0],
                  "migrations": {kind: migrate(work, kind) for kind in ("good", "bad")}}
        out, _ = load.communicate(timeout=600)
        result["load"] = json.loads(out)
        result["loadavg_after"] = os.getloadavg()[0]
    finally:
        mesh(work, "down", timeout=180)
        up.wait(60)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: (v["result"], v["rc"]) for k, v in result["migrations"].items()}))


if __name__ == "__main__":
    main()
