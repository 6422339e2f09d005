"""The dashboard in headless Chromium: every host and agent state is on the page; the
screenshot is saved to docs/dashboard.png.  The scene is the reference roster of 77 agents on
two hubs, with one PC2 agent crashed (its dependents affected) and one MainPC agent warning."""

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from hub_helpers import agent_state, get_json

from common.hub.client import ProcessEventClient
from common.hub.fleet import Fleet
from common.testing.wait import wait_until

pytestmark = [pytest.mark.timeout(90),
              pytest.mark.skipif(shutil.which("chromium") is None,
                                 reason="chromium not installed (Debian package chromium)")]

ROOT = Path(__file__).parents[2]
ROSTER = Path("/work/shared/reference/roster.yaml")
CRASHED, WARNING = "AsyncProcessor", "NLLBAdapter"


def roster():
    if ROSTER.exists():
        data = yaml.safe_load(ROSTER.read_text())
        agents = {h: [a for a in data[h] if a["name"] != "ObservabilityHub"]
                  for h in ("main_pc", "pc2")}
    else:  # a small stand-in where the reference roster is absent
        agents = {"main_pc": [{"name": "ServiceRegistry", "deps": []},
                              {"name": WARNING, "deps": ["ServiceRegistry"]}],
                  "pc2": [{"name": CRASHED, "deps": []},
                          {"name": "TaskScheduler", "deps": [CRASHED]}]}
    hosts = {a["name"]: h for h, items in agents.items() for a in items}
    deps = {a["name"]: [d for d in a.get("deps", []) if d in hosts]
            for items in agents.values() for a in items}
    return agents, hosts, deps


def chromium(url, *args):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
             "--window-size=1400,1500", *args, url],
            capture_output=True, text=True, timeout=60)


def test_dashboard_shows_every_host_and_agent_state(hub_pair, zmq_ctx):
    agents, hosts, deps = roster()
    settings = {"dependencies": deps, "hosts": {**hosts, "HubC": "main_pc", "HubE": "pc2"}}
    central, edge = hub_pair(settings, settings)
    fleets = [Fleet(zmq_ctx, central.endpoint, [a["name"] for a in agents["main_pc"]],
                    gpu_owners=["ModelManagerSuite"]),
              Fleet(zmq_ctx, edge.endpoint, [a["name"] for a in agents["pc2"]])]
    fleets[0].checks[WARNING] = {"name": "model", "status": "warning",
                                 "detail": "load took 41 s (budget 30 s)"}
    for fleet in fleets:
        fleet.start()
    try:
        health = central.http.url + "/api/health"
        wait_until(lambda: get_json(health)["counts"]["unknown"] == 0, 20, interval_s=0.1,
                   what="every agent reported")
        fleets[1].silence(CRASHED)
        launcher = ProcessEventClient([edge.endpoint, central.endpoint], "pc2", ctx=zmq_ctx)
        launcher.push(CRASHED, 4242, "restarted", code=1)
        launcher.push(CRASHED, 4243, "exited", code=1)
        launcher.close()
        wait_until(lambda: agent_state(get_json(health), CRASHED)["state"] == "critical", 5,
                   what="crash seen by the central hub")
        doc = get_json(health)
        dom = chromium(central.http.url, "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        html = dom.stdout
        for host in ("main_pc", "pc2"):
            assert f'data-host="{host}"' in html
        for agent in doc["agents"]:
            shown = "affected" if agent["affected"] else agent["state"]
            assert re.search(rf'class="tile {shown}"[^>]*><b>{agent["name"]}</b>', html), agent
        assert "root cause: " + CRASHED in html and "MeshAgentCrashLooping" not in html
        shot = ROOT / "docs" / "dashboard.png"
        result = chromium(central.http.url, f"--screenshot={shot}")
        assert result.returncode == 0 and shot.stat().st_size > 10_000, result.stderr[-2000:]
    finally:
        for fleet in fleets:
            fleet.stop()
