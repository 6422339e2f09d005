"""Incident history with a real two-host mesh (issue 13's acceptance): the registry is
killed, then the central hub; once the hub is back, ``mesh events`` shows the registry's exit
and restart, the hub's restart counts match the launchers', and the hub's own exit (sent while
it was down, so to the edge hub) is on both hubs afterwards, once."""

import json
import os
import signal
import subprocess
import sys

import pytest
from hub_helpers import get_json

from common.testing.mesh import MeshRun, free_ports, two_host_config
from common.testing.wait import wait_until

pytestmark = pytest.mark.timeout(90)

ECHO = "common.testing.agents:EchoAgent"


def _config(tmp_path):
    p = free_ports(7)
    agents = [
        {"name": "ServiceRegistry", "host": "main_pc", "service": "registry",
         "module": "service_registry.agent:ServiceRegistry", "port": p[0]},
        {"name": "ObservabilityHub", "host": "main_pc", "service": "hub",
         "module": "observability_hub.hub:ObservabilityHub", "port": p[1],
         "ports": {"http_port": p[2]}},
        {"name": "ObservabilityHub_pc2", "host": "pc2", "service": "hub",
         "module": "observability_hub.hub:ObservabilityHub", "port": p[3],
         "ports": {"http_port": p[4]}},
        {"name": "Echo", "host": "main_pc", "module": ECHO, "port": p[5],
         "dependencies": ["ServiceRegistry"]},
        {"name": "EchoPc2", "host": "pc2", "module": ECHO, "port": p[6],
         "dependencies": ["ServiceRegistry"]},
    ]
    config = two_host_config(tmp_path, agents,
                             main_pc={"roles": ["registry", "hub_central"]})
    config["hosts"]["pc2"]["roles"] = ["hub_edge"]
    return config, f"http://127.0.0.1:{p[2]}", f"http://127.0.0.2:{p[4]}"


def _mesh(run, *args):
    out = subprocess.run([sys.executable, "-m", "common.cli.main", *args, "--config",
                          str(run.config_path)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _events(url, **query):
    params = "&".join(f"{k}={v}" for k, v in query.items())
    try:
        return get_json(f"{url}/api/events?{params}", timeout_s=1.0)["events"]
    except OSError:
        return None


def test_registry_then_central_hub_killed_history_and_counts_survive(procs, tmp_path):
    config, central, edge = _config(tmp_path)
    run = MeshRun(procs, tmp_path, config)
    try:
        run.up("main_pc")
        run.up("pc2")
        agents = run.wait_ready(timeout_s=30)
        wait_until(lambda: _events(central, kind="hub"), 10, what="the central hub serves")

        os.kill(agents["ServiceRegistry"]["pid"], signal.SIGKILL)
        run.wait(("main_pc",), lambda a: a["ServiceRegistry"]["ready"]
                 and a["ServiceRegistry"]["restarts"] == 1, what="registry restarted")
        hub_pid = agents["ObservabilityHub"]["pid"]
        os.kill(hub_pid, signal.SIGKILL)
        run.wait(("main_pc",), lambda a: a["ObservabilityHub"]["ready"]
                 and a["ObservabilityHub"]["restarts"] == 1, what="central hub restarted")

        shown = json.loads(_mesh(run, "events", "--agent", "ServiceRegistry", "--json"))
        kinds = [e["kind"] for e in shown["events"]]
        assert "process.exited" in kinds and "process.restarted" in kinds
        exited = next(e for e in shown["events"] if e["kind"] == "process.exited")
        assert exited["detail"]["code"] == -signal.SIGKILL
        table = _mesh(run, "events", "--agent", "ServiceRegistry", "--since", "10m")
        assert "process.exited" in table and "ServiceRegistry" in table

        def counts_match():
            launchers = run.agents("main_pc", "pc2")
            doc = get_json(f"{central}/api/health", timeout_s=1.0)
            hub = {a["name"]: a["restarts"] for a in doc["agents"]}
            return all(hub.get(n) == a["restarts"] for n, a in launchers.items())
        wait_until(counts_match, 10, interval_s=0.1, what="restart counts as the launchers'")
        metrics = subprocess.run(["curl", "-s", f"{central}/metrics"], capture_output=True,
                                 text=True, timeout=10).stdout
        assert 'mesh_agent_restarts_total{agent="ServiceRegistry",host="main_pc"} 1' \
            in metrics

        def hub_exit_on_both():
            found = [_events(url, agent="ObservabilityHub", kind="process.exited")
                     for url in (central, edge)]
            return found if all(f for f in found) else None
        found = wait_until(hub_exit_on_both, 10, interval_s=0.1, what="hub exit on both")
        for events in found:
            pids = [e["detail"]["pid"] for e in events]
            assert pids == [hub_pid]  # once on each hub
        assert found[0][0]["id"] == found[1][0]["id"]
    finally:
        run.close()
