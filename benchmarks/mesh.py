"""The reference mesh benchmark: startup, memory, request latency and throughput.

Runs startup_config.yaml (relocated to a temp dir, ports offset by 12000) with ``mesh up
--host all`` and writes benchmarks/results/mesh.json:
- ``ready_s``: from ``mesh up`` to every agent ready (77 roster agents + ModelManagerAgent),
  and ``registered_s`` to all of them being in the registry;
- ``pss_total_mb`` (the mesh's processes: launchers, fork servers, agents) and per-agent RSS;
  ``model_weights_mb``: the torch weights the model agents hold, reported apart;
- ``load``: ``mesh load`` results at increasing rates, and ``max_rate_p95_under_50ms``.

    .venv/bin/python benchmarks/mesh.py [--rates 10,20,40,80] [--duration 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.base_agent.client import Client  # noqa: E402
from common.base_agent.errors import MeshError  # noqa: E402
from common.cli.load_cmd import run_load  # noqa: E402
from common.config import load_config  # noqa: E402
from common.launcher import HostPlan  # noqa: E402
from common.testing.reference import reference_config  # noqa: E402

OFFSET = 12000
MIB = 2**20
RESULT = ROOT / "benchmarks" / "results" / "mesh.json"


def launchers(config_path: Path) -> dict[str, str]:
    """Each host's launcher endpoint (tcp, hosts.<h>.launcher_port)."""
    config = load_config(config_path)
    return {host: HostPlan(config, host).launcher_endpoint() for host in config.hosts}


def statuses(client: Client, endpoints: dict[str, str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for host, endpoint in endpoints.items():
        try:
            report = client.call_endpoint(endpoint, "status",
                                          timeout_s=1.0, retries=0, peer=host)
        except MeshError:
            continue
        out.update({a["name"]: a for a in report["agents"]})
    return out


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)  # polling the launchers' status, bounded by the deadline
    raise TimeoutError(what)


def memory(root_pid: int, agents: dict[str, dict]) -> dict:
    procs = [psutil.Process(root_pid), *psutil.Process(root_pid).children(recursive=True)]
    pss = 0
    for proc in procs:
        try:
            pss += proc.memory_full_info().pss
        except psutil.Error:
            pass
    rss = {}
    for name, agent in agents.items():
        try:
            rss[name] = round(psutil.Process(agent["pid"]).memory_info().rss / MIB, 1)
        except (psutil.Error, TypeError):
            pass
    return {"pss_total_mb": round(pss / MIB, 1), "processes": len(procs), "rss_mb": rss}


def weights_mb(client: Client, config: dict) -> float:
    total = 0
    for agent in config["agents"]:
        if "vram_mb" in (agent.get("settings") or {}):
            try:
                total += client.call(agent["name"], "model_status", timeout_s=1.0)["param_bytes"]
            except MeshError:
                pass
    return round(total / MIB, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="10,20,40,80")
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mesh-bench-"))
    config = reference_config(work, OFFSET)
    (work / "mesh.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run_dir = str(work / "run")
    endpoints = launchers(work / "mesh.yaml")
    registry = f"tcp://127.0.0.1:{7200 + OFFSET}"
    client = Client(registry, source="bench")
    t0 = time.monotonic()
    up = subprocess.Popen([sys.executable, "-m", "common.cli.main", "up", "--host", "all",
                           "--config", str(work / "mesh.yaml"), "--run-dir", run_dir],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    count = len(config["agents"])
    try:
        agents = wait_for(lambda: (s := statuses(client, endpoints)) and len(s) == count and all(
            a["ready"] for a in s.values()) and s, 120, "all agents ready")
        ready_s = time.monotonic() - t0
        wait_for(lambda: len(client.call_endpoint(registry, "list", timeout_s=1.0)) >= count,
                 30, "all registered")
        registered_s = time.monotonic() - t0
        wait_for(lambda: weights_mb(client, config) > 0, 30, "models loaded")
        mem = memory(up.pid, agents)
        loads = []
        best = 0.0
        for rate in [float(r) for r in args.rates.split(",")]:
            result = run_load(registry, rate, args.duration)
            loads.append(result)
            request = result["kinds"].get("request", {})
            if request.get("p95_ms", 1e9) < 50 and request.get("success_rate", 0) >= 0.99:
                best = rate
            else:
                break
        out = {"machine": {"cpus": psutil.cpu_count(), "python": platform.python_version()},
               "agents": count, "roster_agents": count - 1, "ready_s": round(ready_s, 3),
               "registered_s": round(registered_s, 3), **mem,
               "model_weights_mb": weights_mb(client, config), "load": loads,
               "max_rate_p95_under_50ms": best}
    finally:
        client.close()
        up.send_signal(signal.SIGTERM)
        up.wait(60)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k not in ("rss_mb", "load")}, indent=2))


if __name__ == "__main__":
    main()
