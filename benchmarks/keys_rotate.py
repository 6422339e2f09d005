"""Rotate both hosts' server keys on the live reference mesh (security: curve) under `mesh load`.

    .venv/bin/python benchmarks/keys_rotate.py [--workdir DIR] [--rate R]

Brings up the shipped startup_config.yaml moved to 127.0.16.1/127.0.16.2 (state and logs under
the workdir), `mesh keys init`, starts `mesh load` for the whole run, and after a warm-up runs
`mesh keys rotate --host H` then `--finish` for main_pc and then pc2.  A 20 s load
without rotation runs first, as the baseline.  Writes
benchmarks/results/keys_rotate.json: both loads' results (requests, failures, latency
percentiles), each step's seconds, agents the launchers took for hung (restarts), the
requests servers refused as ``rebinding`` (never served; their clients send them again) and
dropped at a rebind (never served nor answered), the load average, whether every agent is
ready afterwards, and whether the old keys are refused.
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

HOSTS = {"main_pc": "127.0.16.1", "pc2": "127.0.16.2"}
MESH = [sys.executable, "-m", "common.cli.main"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # run from the workdir: its run/ folder
RESULT = ROOT / "benchmarks" / "results" / "keys_rotate.json"
STAGES = ("FusedAudioPreprocessor",)  # a stream subscriber (of AudioCapture, every frame)


def mesh(work: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*MESH, *args, "--config", str(work / "mesh.yaml")], cwd=work,
                          env=ENV, capture_output=True, text=True, timeout=timeout)


def ready(work: Path) -> tuple[int, int]:
    out = mesh(work, "status", "--json", timeout=30)
    if out.returncode != 0:
        return 0, -1
    agents = [a for h in json.loads(out.stdout)["hosts"] for a in h["agents"]]
    return sum(bool(a["ready"]) for a in agents), len(agents)


def received(work: Path, stage: str) -> int:
    out = mesh(work, "call", stage, "stream_stats", timeout=30)
    return int(json.loads(out.stdout)["received"]) if out.returncode == 0 else -1


def flowing(work: Path, stage: str) -> bool:
    """The stream stage still gets frames from its upstream (subscribed again after the
    upstream's host key changed)."""
    before = received(work, stage)
    try:
        return before >= 0 and bool(wait_until(lambda: received(work, stage) > before, 10,
                                               interval_s=0.5, what=f"{stage} receiving"))
    except TimeoutError:
        return False


def _counted(lines: list[str], phrase: str) -> int:
    """The sum of the counts the agents logged in lines saying phrase (`: N <phrase>`)."""
    return sum(int(line.split(phrase)[0].rsplit(":", 1)[-1].split()[-1])
               for line in lines if phrase in line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", default="/tmp/helperF/live")
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=False)
    config = reference_config(work, addresses=HOSTS)
    config["global"].update(security="curve", keys_dir=str(work / "keys"))
    (work / "mesh.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    made = mesh(work, "keys", "init")
    assert made.returncode == 0, made.stderr
    out: dict = {"rate": args.rate, "steps": []}
    up = mesh(work, "up", "--host", "all", "--detach", timeout=300)
    assert up.returncode == 0, up.stderr
    try:
        wait_until(lambda: (lambda r: r[0] == r[1] > 0)(ready(work)), 240, interval_s=1,
                   what="every agent ready")
        old = json.loads((work / "keys" / "allowlist.json").read_text())["hosts"]
        base = mesh(work, "load", "--rate", str(args.rate), "--duration", "20", "--json")
        out["baseline_load"] = json.loads(base.stdout) if base.stdout else base.stderr[-500:]
        duration = 60.0
        load = subprocess.Popen([*MESH, "load", "--rate", str(args.rate), "--duration",
                                 str(duration), "--json", "--config", str(work / "mesh.yaml")],
                                cwd=work, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        started = time.monotonic()
        out["load_avg_before"] = [round(x, 2) for x in os.getloadavg()]
        time.sleep(8)  # the load's warm-up before the first rotation: pacing, not sync
        for host in HOSTS:
            for finish in (False, True):
                t0 = time.monotonic()
                step = mesh(work, "keys", "rotate", "--host", host, "--json", "--wait", "30",
                            *(["--finish"] if finish else []))
                out["steps"].append({"host": host, "finish": finish, "rc": step.returncode,
                                     "s": round(time.monotonic() - t0, 2),
                                     "at_s": round(t0 - started, 2),
                                     "error": step.stderr.strip()[-300:]})
        stdout, stderr = load.communicate(timeout=duration + 60)
        out["load"] = json.loads(stdout) if stdout else {"error": stderr[-500:]}
        new = json.loads((work / "keys" / "allowlist.json").read_text())["hosts"]
        out["keys_changed"] = {h: old[h] != new[h] and len(new[h]) == 1 for h in HOSTS}
        logs = [*(work / "logs").rglob("*.log"), *(work / "run").rglob("*.log")]  # launchers
        lines = [line for log in logs for line in log.read_text(errors="replace").splitlines()]
        out["taken_for_hung"] = [line for line in lines if "killing it as hung" in line]
        out["refused_as_rebinding"] = _counted(lines, "requests not served, refused")
        out["dropped_at_rebind"] = _counted(lines, "requests arrived as the old")
        out["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
        out["ready_after"] = ready(work)
        out["streams_flowing_after"] = {stage: flowing(work, stage) for stage in STAGES}
    finally:
        mesh(work, "down", timeout=180)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
