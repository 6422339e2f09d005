"""First-class legacy agents (issue 18, item 5): while its probes pass the launcher registers a
script (protocol: legacy) and reports its health to the hub; `mesh call`, the client and
`mesh health` reach it by name like any agent."""

import json
import os
import subprocess
import sys
import urllib.request

import yaml
from legacy_helpers import model_loader

from common.base_agent.client import Client
from common.testing.mesh import free_ports
from common.testing.wait import wait_until

ECHO = "common.testing.agents:EchoAgent"


def _config_agents(ports, http_port, loader):
    return [{"name": "ServiceRegistry", "host": "main_pc", "service": "registry",
             "module": "service_registry.agent:ServiceRegistry", "port": ports[0],
             "ports": {"events_port": ports[1]}},
            {"name": "ObservabilityHub", "host": "main_pc", "service": "hub",
             "module": "observability_hub.hub:ObservabilityHub", "port": ports[2],
             "ports": {"http_port": http_port}},
            {**loader, "dependencies": ["ServiceRegistry"]}]


def _mesh_cli(run, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
    return subprocess.run([sys.executable, "-m", "common.cli.main", *args, "--config",
                           str(run.config_path)], capture_output=True, text=True,
                          timeout=30, env={**env, "COLUMNS": "200"})


def _hub_agent(http_port, name):
    """name as the hub shows it; None before the hub answers or knows it."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/health",
                                    timeout=2) as r:
            doc = json.load(r)
    except OSError:
        return None
    return next((a for a in doc["agents"] if a["name"] == name), None)


def test_legacy_agent_is_registered_reported_and_callable_by_name(mesh, ports):
    """PC2 (no agents here) sits on another machine's address, so the script's `*` binds
    take nothing of it: no port warning, and the hub shows the script passing."""
    http_port = free_ports(1)[0]
    loader = model_loader(ports[3], ports[4], init_s=1.5, health={"ports": ["port"]})
    run = mesh(_config_agents(ports, http_port, loader),
               main_pc={"roles": ["registry", "hub_central"]})
    config = yaml.safe_load(run.config_path.read_text())
    config["hosts"]["pc2"]["address"] = "203.0.113.7"  # TEST-NET-3: not this machine
    run.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    run.up("main_pc")
    registry = f"tcp://127.0.0.1:{ports[0]}"
    with Client(registry, source="test") as client:
        # while its constructor runs the hub hears of it (warning, the reply's text), and the
        # registry has no record of it yet
        seen = wait_until(lambda: (_hub_agent(http_port, "ModelLoaderAgent") or {}).get(
            "state", "unknown") != "unknown" and _hub_agent(http_port, "ModelLoaderAgent"),
            10, what="the hub hearing of ModelLoaderAgent")
        if not run.agents("main_pc")["ModelLoaderAgent"]["ready"]:
            assert seen["state"] == "warning", seen
            assert not client.call_endpoint(registry, "lookup", {"name": "ModelLoaderAgent"})
        run.wait_ready(("main_pc",))
        found = wait_until(lambda: client.call_endpoint(registry, "lookup",
                                                        {"name": "ModelLoaderAgent"}),
                           10, what="ModelLoaderAgent registered")
        assert found[0]["metadata"] == {"protocol": "legacy"}
        assert found[0]["endpoint"] == f"tcp://127.0.0.1:{ports[3]}"
        assert found[0]["pid"] == run.agents("main_pc")["ModelLoaderAgent"]["pid"]
        reply = client.call("ModelLoaderAgent", "echo", {"text": "from a new agent"})
        assert reply == {"status": "success", "echo": "from a new agent",
                         "agent": "ModelLoaderAgent"}
    wait_until(lambda: (_hub_agent(http_port, "ModelLoaderAgent") or {}).get("state")
               == "passing", 10, what="the hub showing ModelLoaderAgent passing")
    called = _mesh_cli(run, "call", "ModelLoaderAgent", "echo", "--data", '{"text": "hi"}')
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout)["echo"] == "hi"
    health = _mesh_cli(run, "health")
    line = next(x for x in health.stdout.splitlines() if "ModelLoaderAgent" in x)
    assert "passing" in line, health.stdout


def test_a_dead_script_is_withdrawn_from_the_registry(mesh, ports):
    http_port = free_ports(1)[0]
    loader = model_loader(ports[3], ports[4], restart={"policy": "never"})
    run = mesh(_config_agents(ports, http_port, loader),
               main_pc={"roles": ["registry", "hub_central"]})
    run.up("main_pc")
    registry = f"tcp://127.0.0.1:{ports[0]}"
    with Client(registry, source="test") as client:
        wait_until(lambda: client.call_endpoint(registry, "lookup",
                                                {"name": "ModelLoaderAgent"}), 20,
                   what="ModelLoaderAgent registered")
        os.kill(run.agents("main_pc")["ModelLoaderAgent"]["pid"], 9)
        wait_until(lambda: not client.call_endpoint(registry, "lookup",
                                                    {"name": "ModelLoaderAgent"}), 5,
                   what="ModelLoaderAgent withdrawn")
