"""External services (issue 18, item 6): a real Debian redis-server declared under services:,
started by its host's launcher, checked with redis-cli; the agent that depends on it starts
only once it answers, and the hub shows it."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

from common.testing.mesh import free_ports
from common.testing.wait import wait_until

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"),
                                reason="needs redis-server (apt install redis-server)")

REDIS = {"name": "Redis", "host": "main_pc", "check": "command",
         "command": ["redis-cli", "-h", "${HOST_ADDRESS}", "-p", "${PORT}", "ping"],
         "start": ["redis-server", "--bind", "${HOST_ADDRESS}", "--port", "${PORT}",
                   "--save", "", "--appendonly", "no"],
         "interval_s": 0.2}


def _hub(http_port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/health",
                                    timeout=2) as reply:
            return {a["name"]: a for a in json.load(reply)["agents"]}
    except OSError:
        return {}


def test_agent_waits_for_redis_started_by_the_launcher_and_the_hub_shows_it(mesh, ports):
    http_port = free_ports(1)[0]
    run = mesh([{"name": "ServiceRegistry", "host": "main_pc", "service": "registry",
                 "module": "service_registry.agent:ServiceRegistry", "port": ports[0]},
                {"name": "ObservabilityHub", "host": "main_pc", "service": "hub",
                 "module": "observability_hub.hub:ObservabilityHub", "port": ports[1],
                 "ports": {"http_port": http_port}},
                {"name": "Cache", "host": "main_pc", "port": ports[2],
                 "module": "common.testing.agents:EchoAgent",
                 "dependencies": ["ServiceRegistry", "Redis"]}],
               main_pc={"roles": ["registry", "hub_central"]})
    config = run.config_path.read_text()
    run.config_path.write_text(config + "services:\n" + "".join(
        f"  {line}\n" for line in json.dumps([{**REDIS, "port": ports[3]}]).splitlines()))
    run.up("main_pc")
    status = wait_until(lambda: (s := run.status("main_pc")) and s["agents"][2]["ready"] and s,
                        20, what="Cache ready")
    redis = status["services"][0]
    assert redis["passing"] and redis["pid"] and "PONG" in redis["detail"]
    ping = subprocess.run(["redis-cli", "-p", str(ports[3]), "ping"], capture_output=True,
                          text=True, timeout=5)
    assert ping.stdout.strip() == "PONG"
    started = [e for e in status["events"] if e["event"] == "started"]
    assert [e["agent"] for e in started][-1] == "Cache"
    log = (run.workdir / "logs" / "main_pc" / "Redis.log").read_text()
    assert "Ready to accept connections" in log
    table = subprocess.run([sys.executable, "-m", "common.cli.main", "status", "--config",
                            str(run.config_path), "--host", "main_pc"], capture_output=True,
                           text=True, timeout=30, env={**os.environ, "COLUMNS": "200"})
    assert "1/1 services passing" in table.stdout, table.stdout
    shown = wait_until(lambda: _hub(http_port).get("Redis", {}).get("state") == "passing"
                       and _hub(http_port), 10, what="the hub showing Redis passing")
    assert shown["Cache"]["dependencies"] == ["ServiceRegistry", "Redis"]
    down = subprocess.run([sys.executable, "-m", "common.cli.main", "down", "--config",
                           str(run.config_path), "--host", "main_pc"], capture_output=True,
                          text=True, timeout=30)
    assert down.returncode == 0, down.stderr
    wait_until(lambda: subprocess.run(["redis-cli", "-p", str(ports[3]), "ping"],
                                      capture_output=True, timeout=5).returncode != 0, 15,
               what="redis-server stopped with the launcher")
