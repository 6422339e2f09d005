"""As an operator would: the shipped startup_config.yaml moved by port offset, with an
``anomaly:`` section of its own; under ``mesh load`` the central hub's /api/series holds both
hosts' and both GPUs' series, the loaded agents', and every SLO's error budget left."""

import json
import os
import subprocess
import sys

import pytest
import yaml
from hub_helpers import get_json

from common.config import load_config
from common.testing.mesh import MeshRun
from common.testing.reference import reference_config
from common.testing.wait import wait_until

pytestmark = [pytest.mark.timeout(180), pytest.mark.torch]  # the reference mesh: model agents
PORT_OFFSET = 5000
ANOMALY = {"step_s": 1.0, "window_s": 5.0, "min_requests": 5, "warmup_s": 5.0,
           "history_s": 300.0}


def test_reference_mesh_series_under_load(procs, tmp_path):
    config = reference_config(tmp_path, PORT_OFFSET)
    config["anomaly"] = ANOMALY
    run = MeshRun(procs, tmp_path, config)
    resolved = load_config(run.config_path)
    hub = next(a for a in resolved.providers("hub") if resolved.has_role(a.host, "hub_central"))
    url = f"http://{resolved.hosts[hub.host].address}:{hub.ports['http_port']}/api/series"
    try:
        run.up()
        run.wait(("main_pc", "pc2"), lambda a: len(a) == 78 and all(
            x["ready"] for x in a.values()), timeout_s=90, what="all 78 agents ready")
        load = subprocess.run([sys.executable, "-m", "common.cli.main", "load", "--rate", "10",
                               "--duration", "8", "--json", "--config", str(run.config_path)],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "MESH_REGISTRY": ""})
        assert load.returncode == 0, load.stderr
        assert json.loads(load.stdout)["total"]["count"] == 80

        def filled():
            doc = get_json(f"{url}?agent=RequestCoordinator")
            agent, hosts = doc["agent_series"], doc["hosts"].values()
            enough = len(agent.get("latency_p95_s", [])) >= 3 and hosts and all(
                len(host["rate"]) >= 10 for host in hosts)
            return doc if enough else None
        doc = wait_until(filled, 30, interval_s=0.5,
                         what="RequestCoordinator's p95 series and 10 points of each host's rate")
        assert doc["step_s"] == ANOMALY["step_s"]  # the config's section reached the hub
        assert set(doc["hosts"]) == {"main_pc", "pc2"}
        assert set(doc["gpus"]) == {"main_pc/0", "pc2/0"}
        shipped = {o["name"] for o in yaml.safe_load(run.config_path.read_text())["slos"]
                   ["objectives"]}
        assert shipped and set(doc["slos"]) == shipped
        assert all(s["budget_left"] for s in doc["slos"].values())
        assert len(doc["agents"]) == 78 and {"MemoryOrchestratorService",
                                              "NLUAgent"} <= set(doc["agents"])
    finally:
        run.close()
