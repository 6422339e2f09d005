"""Start-up benchmark: 77 agents, ordered and gated, against supervisord; writes
benchmarks/results/startup.json.

    .venv/bin/python benchmarks/startup.py [--trials 3] [--out PATH]

Both sides start the same 77 agents (a ServiceRegistry and 76 EchoAgents, 54 on MainPC at
127.0.0.1 and 23 on PC2 at 127.0.0.2) and are timed from the moment the command is launched to
the moment all 77 answer a ``health`` request, probed by this script the same way for both:
  * ours: ``mesh up --host all``, which starts agents in dependency order (depth 7), each only
    when its dependencies answer health, forked from a fork server;
  * supervisord (the ``supervisor`` package): the same 77 ``mesh agent run`` processes, all at
    once, no ordering.
Then it reports peak RSS of our launchers (with their fork servers) and RSS/PSS per idle agent.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml
import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.base_agent import protocol  # noqa: E402
from common.base_agent.protocol import Request  # noqa: E402

MAIN, PC2 = "127.0.0.1", "127.0.0.2"
BASE_PORT = 27000
DEPTH = 7
ECHO = "common.testing.agents:EchoAgent"


def roster() -> list[dict]:
    """77 agents: the registry, then 76 echo agents in DEPTH-1 levels over both hosts."""
    agents = [{"name": "ServiceRegistry", "host": "main_pc", "port": BASE_PORT,
               "module": "service_registry.agent:ServiceRegistry", "service": "registry",
               "dependencies": []}]
    levels: list[list[str]] = [["ServiceRegistry"]]
    for i in range(76):
        level = 1 + i * (DEPTH - 1) // 76
        while len(levels) <= level:
            levels.append([])
        parents = levels[level - 1]
        deps = sorted({parents[i % len(parents)], parents[(i * 7) % len(parents)]})
        name = f"Agent{i:02d}"
        levels[level].append(name)
        on_pc2 = (i * 23) // 76 != ((i + 1) * 23) // 76  # 23 of the 76, spread out
        agents.append({"name": name, "host": "pc2" if on_pc2 else "main_pc",
                       "port": BASE_PORT + 1 + i, "module": ECHO, "dependencies": deps})
    return agents


def write_config(tmp: Path, agents: list[dict]) -> Path:
    config = {"version": 1,
              "global": {"log_dir": str(tmp / "logs"), "stop_timeout_s": 5,
                         "health": {"interval_s": 2.0, "timeout_s": 1.0}},
              "hosts": {"main_pc": {"address": MAIN, "roles": ["registry"]},
                        "pc2": {"address": PC2}},
              "agents": agents}
    path = tmp / "startup_77.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def endpoints(agents: list[dict]) -> list[str]:
    return [f"tcp://{MAIN if a['host'] == 'main_pc' else PC2}:{a['port']}" for a in agents]


def wait_all_answer(targets: list[str], timeout_s: float = 60.0) -> float:
    """Probe every endpoint with `health` until each has answered; returns the time of the last."""
    ctx = zmq.Context()
    socks = {}
    for endpoint in targets:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, 10)
        sock.connect(endpoint)
        socks[sock] = endpoint
    poller, pending = zmq.Poller(), set(socks)
    for sock in socks:
        poller.register(sock, zmq.POLLIN)
    frames = protocol.encode_request(Request(protocol.ACTION_HEALTH, source="bench"))
    deadline, next_send = time.monotonic() + timeout_s, 0.0
    try:
        while pending and time.monotonic() < deadline:
            if time.monotonic() >= next_send:  # re-ask: a request may hit a dying predecessor
                for sock in pending:
                    sock.send_multipart(frames, zmq.NOBLOCK)
                next_send = time.monotonic() + 0.25
            for sock, _ in poller.poll(20):
                sock.recv_multipart()
                pending.discard(sock)
        if pending:
            raise TimeoutError(f"{len(pending)} agents never answered")
        return time.monotonic()
    finally:
        ctx.destroy(linger=0)


def run_ours(config: Path, tmp: Path, agents: list[dict]) -> dict:
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "common.cli.main", "up", "--host", "all",
                             "--config", str(config), "--run-dir", str(tmp / "run"),
                             "--log-level", "WARNING"], cwd=ROOT, start_new_session=True)
    try:
        elapsed = wait_all_answer(endpoints(agents)) - t0
        memory = measure_memory(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return {"seconds": round(elapsed, 3), **memory}


def measure_memory(root_pid: int) -> dict:
    time.sleep(1.0)  # let the agents settle into idle before measuring them
    root = psutil.Process(root_pid)
    launchers, agents = [], []
    for proc in root.children(recursive=True):
        (launchers if proc.name().startswith("python")
         else agents).append(proc)
    agent_mem = [p.memory_full_info() for p in agents]
    return {
        "launcher_rss_mb": round(sum(p.memory_info().rss for p in launchers) / 2**20, 1),
        "launcher_processes": len(launchers),
        "agents_measured": len(agent_mem),
        "agent_rss_mb_median": round(statistics.median(m.rss for m in agent_mem) / 2**20, 1),
        "agent_pss_mb_median": round(statistics.median(m.pss for m in agent_mem) / 2**20, 1),
        "agents_pss_total_mb": round(sum(m.pss for m in agent_mem) / 2**20, 1),
    }


def supervisord_conf(tmp: Path, agents: list[dict]) -> Path:
    registry = f"tcp://{MAIN}:{BASE_PORT}"
    lines = ["[supervisord]", f"logfile={tmp}/supervisord.log", f"pidfile={tmp}/sd.pid",
             "nodaemon=true", "loglevel=warn", ""]
    for agent, endpoint in zip(agents, endpoints(agents), strict=True):
        if agent["name"] == "ServiceRegistry":
            cmd = f"registry serve --endpoint {endpoint} --db {tmp}/sd-registry.db"
        else:
            cmd = (f"agent run {ECHO} --name {agent['name']} --endpoint {endpoint} "
                   f"--registry {registry}")
        lines += [f"[program:{agent['name']}]",
                  f"command={sys.executable} -m common.cli.main {cmd} --log-level WARNING",
                  f"directory={ROOT}", "autorestart=true", "startsecs=0",
                  "stdout_logfile=NONE", "stderr_logfile=NONE", ""]
    path = tmp / "supervisord.conf"
    path.write_text("\n".join(lines))
    return path


def run_supervisord(tmp: Path, agents: list[dict]) -> dict:
    conf = supervisord_conf(tmp, agents)
    supervisord = str(Path(sys.executable).parent / "supervisord")
    t0 = time.monotonic()
    proc = subprocess.Popen([supervisord, "-c", str(conf)], start_new_session=True)
    try:
        elapsed = wait_all_answer(endpoints(agents)) - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return {"seconds": round(elapsed, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/startup.json"))
    args = parser.parse_args()
    agents = roster()
    ours, theirs = [], []
    for trial in range(args.trials):
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            config = write_config(tmp, agents)
            ours.append(run_ours(config, tmp, agents))
            time.sleep(2.0)  # let the machine go quiet between the two (a pause, not a sync)
            theirs.append(run_supervisord(tmp, agents))
        print(f"trial {trial + 1}: ours {ours[-1]['seconds']} s, "
              f"supervisord {theirs[-1]['seconds']} s", flush=True)
    report = build_report(agents, ours, theirs, args.trials)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def build_report(agents: list[dict], ours: list[dict], theirs: list[dict], trials: int) -> dict:
    ours_s = statistics.median(r["seconds"] for r in ours)
    theirs_s = statistics.median(r["seconds"] for r in theirs)
    return {
        "command": "python benchmarks/startup.py", "trials": trials, "agents": len(agents),
        "hosts": {"main_pc": sum(a["host"] == "main_pc" for a in agents),
                  "pc2": sum(a["host"] == "pc2" for a in agents)},
        "dependency_depth": DEPTH, "cpus": os.cpu_count(),
        "ours_all_ready_s": {"median": ours_s, "trials": [r["seconds"] for r in ours]},
        "supervisord_all_answer_s": {"median": theirs_s,
                                     "trials": [r["seconds"] for r in theirs]},
        "ratio_ours_over_supervisord": round(ours_s / theirs_s, 3),
        "memory": ours[-1] | {"seconds": None},
        "targets_met": {"ratio_le_0.5": ours_s / theirs_s <= 0.5, "ours_le_2s": ours_s <= 2.0,
                        "agent_rss_le_30mb": ours[-1]["agent_rss_mb_median"] <= 30},
    }


if __name__ == "__main__":
    main()
