"""End to end: the full reference mesh (startup_config.yaml) up, a demo request across both
hosts with every hop answered, a short load, then everything stopped with no process left."""

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest

from common.testing.mesh import MeshRun
from common.testing.reference import reference_config, roster_names
from common.testing.wait import wait_until

pytestmark = [pytest.mark.timeout(180), pytest.mark.torch]  # the reference mesh: model agents
PORT_OFFSET = 11000  # away from a mesh running on the standard ports
DEMO_PATH = ["RequestCoordinator", "NLUAgent", "ModelOrchestrator", "MemoryClient",
             "MemoryOrchestratorService", "Responder", "EmotionEngine"]
MODEL_AGENTS = {"TinyLlamaServiceEnhanced", "ModelManagerSuite"}


def mesh_cli(run, *args):
    out = subprocess.run([sys.executable, "-m", "common.cli.main", *args, "--config",
                          str(run.config_path)], capture_output=True, text=True, timeout=90,
                         env={**os.environ, "MESH_REGISTRY": ""})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_full_mesh_up_demo_request_and_clean_stop(procs, tmp_path):
    config = reference_config(tmp_path, PORT_OFFSET)
    assert len(roster_names(config)) == 77
    run = MeshRun(procs, tmp_path, config)
    try:
        up = run.up()
        agents = run.wait(("main_pc", "pc2"), lambda a: len(a) == 78 and all(
            x["ready"] for x in a.values()), timeout_s=90, what="all 78 agents ready")
        assert set(roster_names(config)) <= set(agents) and len(agents) == 78
        registry = f"tcp://127.0.0.1:{7200 + PORT_OFFSET}"
        wait_until(lambda: len(run.client.call_endpoint(registry, "list")) >= 78, 20, 0.1,
                   "all 78 registered")
        pids = {a["pid"] for a in agents.values()} | {up.pid}
        assert {a["host"] for a in agents.values()} == {"main_pc", "pc2"}

        demo = json.loads(mesh_cli(run, "demo", "request", "hello, what is the weather today",
                                   "--json", "--timeout", "10"))
        names = [h["agent"] for h in demo["hops"]]
        for name in DEMO_PATH:
            assert name in names, (name, names)
        assert MODEL_AGENTS & set(names), names
        hosts = {h["agent"]: h["host"] for h in demo["hops"]}
        assert hosts["MemoryOrchestratorService"] == "pc2" and hosts["NLUAgent"] == "main_pc"
        assert demo["reply"] and demo["intent"] == "question"

        load = json.loads(mesh_cli(run, "load", "--rate", "5", "--duration", "2", "--json"))
        assert load["total"]["count"] == 10 and load["total"]["success_rate"] >= 0.8, load

        up.signal(signal.SIGTERM)
        up.proc.wait(30)
        alive = [p for p in pids if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert not alive, alive
    finally:
        run.close()
