"""The VRAM pool live: the reference mesh's model agents, real torch weights, real processes.

    .venv/bin/python benchmarks/vram_live.py [--rates 10 20 40] [--duration 900] [--out PATH]

Starts the shipped startup_config.yaml moved only by ``port_offset`` (and its logs and state
under a work folder), then for each rate runs ``mesh load`` for ``--duration`` seconds (its
``swap_infer`` requests go to NLLBAdapter and LocalFineTunerAgent, whose leases cannot both fit,
so every switch is a swap through the warm tier) and records after each: the load's result per
kind with its error codes, the pool's counters (evictions, warm copies kept and dropped,
refusals by reason), the queue-wait histogram's worst bucket against the queue deadline, each
model's measured load times from RAM and from disk and its tier, and the RSS of every model
agent.  Writes benchmarks/results/vram_live.json.  One run holds the machine: nothing else
should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.testing.reference import reference_config  # noqa: E402

MESH = [sys.executable, "-m", "common.cli.main"]
READY_TIMEOUT_S = 180.0
SAMPLE_S = 5.0
WORKERS = 16  # open loop: enough callers that swap waits (up to their deadline) do not lag it


def mesh(*args: str, timeout_s: float = 60.0) -> str:
    done = subprocess.run([*MESH, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"mesh {' '.join(args)}: {done.stderr.strip()[-2000:]}")
    return done.stdout


def wait_ready(config: str) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < READY_TIMEOUT_S:
        status = json.loads(mesh("status", "--config", config, "--json"))
        agents = [a for h in status["hosts"] for a in h["agents"]]
        if agents and all(a["ready"] for a in agents):
            return time.monotonic() - t0
        time.sleep(1.0)  # polling the launchers, with the deadline above
    raise TimeoutError(f"the mesh was not ready within {READY_TIMEOUT_S:g} s")


def model_agents(config: str, pool: dict[str, Any]) -> dict[str, dict[str, Any]]:
    status = json.loads(mesh("status", "--config", config, "--json"))
    out = {}
    for agent in (a for h in status["hosts"] for a in h["agents"]):
        if agent["name"] in pool["models"] and agent.get("pid"):
            try:
                rss = psutil.Process(agent["pid"]).memory_info().rss
            except psutil.NoSuchProcess:
                continue
            out[agent["name"]] = {**pool["models"][agent["name"]], "rss_mb": round(rss / 2**20, 1),
                                  "restarts": agent["restarts"]}
    return out


class QueueWatch(threading.Thread):
    """Samples the pool's queue every SAMPLE_S: the longest any request had waited, and the
    least time any had left before its deadline (negative: queued past it)."""

    def __init__(self, config: str) -> None:
        super().__init__(daemon=True)
        self.config = config
        self.stop = threading.Event()
        self.samples = 0
        self.max_waited_s = 0.0
        self.min_deadline_in_s: float | None = None

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            try:
                queue = json.loads(mesh("vram", "--config", self.config, "--json"))["queue"]
            except (RuntimeError, subprocess.TimeoutExpired, ValueError):
                continue  # a slow answer under load: the next sample
            self.samples += 1
            for lease in queue:
                self.max_waited_s = max(self.max_waited_s, lease["waited_s"])
                left = lease["deadline_in_s"]
                if self.min_deadline_in_s is None or left < self.min_deadline_in_s:
                    self.min_deadline_in_s = left

    def result(self) -> dict[str, Any]:
        return {"samples": self.samples, "every_s": SAMPLE_S,
                "max_waited_s": round(self.max_waited_s, 1),
                "min_deadline_in_s": self.min_deadline_in_s}


def one_rate(config: str, rate: float, duration_s: float) -> dict[str, Any]:
    t0 = time.monotonic()
    watch = QueueWatch(config)
    watch.start()
    try:
        load = json.loads(mesh("load", "--config", config, "--rate", str(rate), "--duration",
                               str(duration_s), "--workers", str(WORKERS), "--json",
                               timeout_s=duration_s + 600))
    finally:
        watch.stop.set()
        watch.join(timeout=30)
    pool = json.loads(mesh("vram", "--config", config, "--json"))
    swap = load["kinds"].get("swap_infer", {})
    return {"rate": rate, "duration_s": duration_s, "wall_s": round(time.monotonic() - t0, 1),
            "load": load, "swap_infer": swap,
            "swap_unavailable": swap.get("errors", {}).get("unavailable", 0),
            "pool_counters": pool["counters"], "tiers_mb": pool["tiers_mb"],
            "models": model_agents(config, pool), "queue": watch.result()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 20.0, 40.0])
    parser.add_argument("--duration", type=float, default=900.0, help="seconds per rate")
    parser.add_argument("--port-offset", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "vram_live.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vram-live-"))
    config = work / "mesh.yaml"
    config.write_text(yaml.safe_dump(reference_config(work, args.port_offset), sort_keys=False))
    runs = []
    mesh("up", "--host", "all", "--config", str(config), "--detach", timeout_s=120)
    try:
        ready_s = wait_ready(str(config))
        for rate in args.rates:
            runs.append(one_rate(str(config), rate, args.duration))
            print(json.dumps({k: runs[-1][k] for k in ("rate", "swap_infer", "pool_counters")}),
                  flush=True)
    finally:
        mesh("down", "--config", str(config), timeout_s=120)
    result = {"benchmark": "vram_live", "python": platform.python_version(),
              "machine": f"{platform.machine()}, {psutil.cpu_count()} cores, no GPU "
                         "(simulated backend, real torch weights at weights_scale)",
              "config": "startup_config.yaml, port_offset moved", "ready_s": round(ready_s, 1),
              "runs": runs,
              "targets": {"zero_swap_unavailable": all(r["swap_unavailable"] == 0 for r in runs),
                          "no_lease_queued_past_its_deadline": all(
                              (r["queue"]["min_deadline_in_s"] or 0.0) >= 0.0 for r in runs)}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["targets"]), "->", args.out)


if __name__ == "__main__":
    main()
