"""Issue 18's acceptance, in one mesh of both hosts: the three fixture scripts of the original
(a MainPC agent with a slow constructor, the identity agent under its own venv with argv
ports, PC2's memory orchestrator with its own port variables) each become ready, registered,
callable by name, and shown by the hub and its dashboard."""

import json
import re
import shutil
import subprocess
import tempfile
import urllib.request

import pytest
from legacy_helpers import IDENTITY, MEMORY, legacy_entry, model_loader

from common.base_agent.client import Client
from common.base_agent.errors import NoInstanceError
from common.testing.mesh import free_ports
from common.testing.wait import wait_until

SCRIPTS = ("ModelLoaderAgent", "DynamicIdentityAgent", "MemoryOrchestratorService")


def _agents(ports, http_port, venv):
    return [
        {"name": "ServiceRegistry", "host": "main_pc", "service": "registry",
         "module": "service_registry.agent:ServiceRegistry", "port": ports[0]},
        {"name": "ObservabilityHub", "host": "main_pc", "service": "hub",
         "module": "observability_hub.hub:ObservabilityHub", "port": ports[1],
         "ports": {"http_port": http_port}},
        {**model_loader(ports[2], ports[3], init_s=2, health={"ports": ["port"]}),
         "dependencies": ["ServiceRegistry"]},
        legacy_entry("DynamicIdentityAgent", "main_pc", IDENTITY, ports[5], ports[6],
                     python=str(venv), args=["--port", "${PORT}", "--health-port",
                                             "${HEALTH_PORT}"],
                     dependencies=["ModelLoaderAgent"]),
        legacy_entry("MemoryOrchestratorService", "pc2", MEMORY, ports[8], ports[9],
                     env={"MEMORY_ORCHESTRATOR_PORT": "${PORT}",
                          "MEMORY_ORCHESTRATOR_HEALTH_PORT": "${HEALTH_PORT}"},
                     dependencies=["ServiceRegistry"])]


def _hub(http_port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/health",
                                    timeout=2) as reply:
            return {a["name"]: a for a in json.load(reply)["agents"]}
    except OSError:
        return {}


def _dashboard_dom(url):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                               "--no-first-run", f"--user-data-dir={profile}",
                               "--virtual-time-budget=5000", "--dump-dom", url],
                              capture_output=True, text=True, timeout=60).stdout


def _registered(client: Client, name: str) -> bool:
    try:
        client.resolve(name, timeout_s=1.0)
    except NoInstanceError:
        return False
    return True


@pytest.mark.timeout(120)
def test_three_original_scripts_are_first_class_agents(mesh, ports, legacy_venv):
    http_port = free_ports(1)[0]
    run = mesh(_agents(ports, http_port, legacy_venv),
               main_pc={"roles": ["registry", "hub_central"]})
    run.up("all")
    run.wait_ready(("main_pc", "pc2"), timeout_s=40)
    with Client(f"tcp://127.0.0.1:{ports[0]}", source="test") as client:
        # ready at its launcher, then registered by it (common.launcher.presence): one step on
        wait_until(lambda: all(_registered(client, name) for name in SCRIPTS), 10,
                   what="every script registered by its launcher")
        assert client.call("ModelLoaderAgent", "echo", {"text": "x"})["echo"] == "x"
        assert client.call("DynamicIdentityAgent", "set_persona",
                           {"persona": "calm"})["persona"] == "calm"
        client.call("MemoryOrchestratorService", "store", {"key": "k", "value": 7})
        assert client.call("MemoryOrchestratorService", "get", {"key": "k"})["value"] == 7
        for name in SCRIPTS:
            record = client.call_endpoint(f"tcp://127.0.0.1:{ports[0]}", "lookup",
                                          {"name": name})[0]
            assert record["metadata"] == {"protocol": "legacy"}
    # both hosts share this machine, so each script's `*` binds are a warning, not unknown
    seen = wait_until(lambda: (hub := _hub(http_port)) and all(
        hub.get(n, {}).get("state") in ("passing", "warning") for n in SCRIPTS) and hub,
        15, what="the hub showing the three scripts")
    assert "bound on * also takes 127.0.0.1" in " ".join(
        seen["MemoryOrchestratorService"]["reasons"])
    if shutil.which("chromium"):
        html = _dashboard_dom(f"http://127.0.0.1:{http_port}/")
        for name in SCRIPTS:
            assert re.search(rf'class="tile \w+"[^>]*><b>{name}</b>', html), name
