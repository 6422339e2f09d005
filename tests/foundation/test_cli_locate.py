"""The CLI finds the mesh from the startup config in the folder: no --registry, no --hub.

A two-host mesh (registry and central hub on main_pc, edge hub on pc2) runs detached; every
command runs from the config's folder with no flag and no MESH_* variable, as an operator
types it, in an 80-column terminal.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from common.cli.locate import PROBE_TIMEOUT_S, _answering
from common.hub.client import HubReader
from common.testing.mesh import MeshRun, free_ports, two_host_config
from common.testing.wait import wait_until

MESH = [sys.executable, "-m", "common.cli.main"]
REGISTRY = "service_registry.agent:ServiceRegistry"
HUB = "observability_hub.hub:ObservabilityHub"
ECHO = "common.testing.agents:EchoAgent"
MANAGER = "main_pc.model_manager.agent:ModelManagerAgent"
LONG_NAME = "UnifiedMemoryReasoningAgent"  # the longest name of the reference mesh
NAMES = {"ServiceRegistry", "CentralHub", "EdgeHub", "VramPool", "Echo", LONG_NAME}


def _agent(name, host, port, module=ECHO, **extra):
    deps = [] if module in (REGISTRY, HUB) else ["ServiceRegistry"]
    return {"name": name, "host": host, "module": module, "port": port, "dependencies": deps,
            **extra}


def _config(workdir, p):
    agents = [_agent("ServiceRegistry", "main_pc", p[0], REGISTRY, service="registry"),
              _agent("CentralHub", "main_pc", p[1], HUB, service="hub",
                     ports={"http_port": p[2]}),
              _agent("EdgeHub", "pc2", p[3], HUB, service="hub", ports={"http_port": p[4]}),
              _agent("VramPool", "main_pc", p[8], MANAGER, service="model_manager"),
              _agent("Echo", "main_pc", p[5]),
              _agent(LONG_NAME, "pc2", p[6])]
    # hang detection slow enough that a SIGSTOPped hub stays stopped while the CLI asks
    config = two_host_config(workdir, agents, health={"retries": 100},
                             main_pc={"roles": ["registry", "hub_central", "model_manager"],
                                      "gpu": {"backend": "simulated",
                                              "devices": [{"name": "RTX 4090",
                                                           "vram_mb": 24000}]}})
    config["hosts"]["pc2"]["roles"] = ["hub_edge"]
    return config


def mesh(cwd, *args, timeout=30, env=None):
    """`mesh ARGS` as typed in cwd: no MESH_* variable, an 80-column terminal."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MESH_")}
    return subprocess.run([*MESH, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**clean, "COLUMNS": "80", **(env or {})})


def _fits(out):
    too_wide = [line for line in out.splitlines() if len(line.rstrip()) > 80]
    assert not too_wide, too_wide


@pytest.fixture
def site(procs, tmp_path):
    """The mesh running detached; tmp_path holds its startup_config.yaml."""
    ports = free_ports(9)
    run = MeshRun(procs, tmp_path, _config(tmp_path, ports))
    shutil.copy(run.config_path, tmp_path / "startup_config.yaml")
    up = mesh(tmp_path, "up", "--detach", "--run-dir", run.run_dir)
    assert up.returncode == 0, up.stderr
    launchers = []
    try:
        run.wait_ready(timeout_s=40)  # a busy 2-core machine
        launchers = [run.status(h)["pid"] for h in ("main_pc", "pc2")]
        yield run, ports
    finally:
        mesh(tmp_path, "down", "--run-dir", run.run_dir, timeout=60)
        for pid in launchers:
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)
        run.close()


def _hub_sees_everyone(url):
    doc = HubReader([url], timeout_s=1.0).health()
    return {a["name"] for a in doc["agents"] if a["state"] == "passing"} >= NAMES


@pytest.mark.timeout(120)
def test_every_command_finds_the_mesh_from_the_config_and_flags_win(site, tmp_path):
    run, ports = site
    central, edge = f"http://127.0.0.1:{ports[2]}", f"http://127.0.0.2:{ports[4]}"
    wait_until(lambda: _hub_sees_everyone(central), 20, 0.2, "the central hub sees all")

    called = mesh(tmp_path, "call", "Echo", "echo", "--data", '{"n": 3}')
    assert called.returncode == 0 and json.loads(called.stdout) == {"n": 3}, called.stderr
    listed = mesh(tmp_path, "registry", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {r["name"] for r in json.loads(listed.stdout)} >= NAMES
    table = mesh(tmp_path, "registry", "list")
    assert table.returncode == 0 and LONG_NAME in table.stdout, table.stderr
    _fits(table.stdout)

    health = mesh(tmp_path, "health", "--json")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["hub"]["name"] == "CentralHub"
    table = mesh(tmp_path, "health")
    assert table.returncode == 0 and LONG_NAME in table.stdout, table.stderr
    _fits(table.stdout)
    alerts = mesh(tmp_path, "alerts")
    assert alerts.returncode == 0 and "alerts on hub CentralHub" in alerts.stdout, alerts.stderr
    _fits(alerts.stdout)
    vram = mesh(tmp_path, "vram", "--json")  # the manager's name comes from the config too
    assert vram.returncode == 0, vram.stderr
    assert [g["name"] for g in json.loads(vram.stdout)["gpus"]] == ["RTX 4090"]
    table = mesh(tmp_path, "vram")
    assert table.returncode == 0 and "RTX 4090" in table.stdout, table.stderr
    _fits(table.stdout)

    # demo and load reach the config's registry too (this mesh has no RequestCoordinator)
    demo = mesh(tmp_path, "demo", "request", "hello", "--timeout", "0.5")
    assert demo.returncode == 1 and "no live instance of 'RequestCoordinator'" in demo.stderr
    load = mesh(tmp_path, "load", "--rate", "5", "--duration", "0.4", "--timeout", "0.3",
                "--json")
    assert load.returncode == 0, load.stderr
    assert json.loads(load.stdout)["total"]["errors"] == {"not_found": 2}

    # an explicit flag (or variable) wins over the config
    elsewhere = f"tcp://127.0.0.1:{ports[7]}"
    flagged = mesh(tmp_path, "registry", "list", "--registry", elsewhere, "--timeout", "0.2")
    assert flagged.returncode == 1 and elsewhere in flagged.stderr
    env = mesh(tmp_path, "registry", "list", "--timeout", "0.2",
               env={"MESH_REGISTRY": elsewhere})
    assert env.returncode == 1 and elsewhere in env.stderr
    by_hub = mesh(tmp_path, "health", "--json", "--hub", edge)
    assert json.loads(by_hub.stdout)["hub"]["name"] == "EdgeHub", by_hub.stderr
    # --config from another folder finds the same mesh
    other = mesh(tmp_path.parent, "call", "Echo", "echo", "--config",
                 str(tmp_path / "startup_config.yaml"))
    assert other.returncode == 0 and json.loads(other.stdout) is None, other.stderr


@pytest.mark.timeout(120)
def test_health_falls_back_to_the_edge_hub(site, tmp_path):
    run, ports = site
    hub_pid = run.agents("main_pc")["CentralHub"]["pid"]
    os.kill(hub_pid, signal.SIGSTOP)  # the central hub accepts connections but never answers
    try:
        t0 = time.monotonic()
        stopped = mesh(tmp_path, "health", "--json", "--timeout", "0.5")
        took_s = time.monotonic() - t0
    finally:
        os.kill(hub_pid, signal.SIGCONT)
    assert stopped.stdout, stopped.stderr
    assert json.loads(stopped.stdout)["hub"]["name"] == "EdgeHub"
    assert took_s < 10

    down = mesh(tmp_path, "down", "--host", "main_pc", "--run-dir", run.run_dir, timeout=60)
    assert down.returncode == 0, down.stderr
    gone = mesh(tmp_path, "health", "--json")  # central host gone: the edge answers
    assert gone.stdout, gone.stderr
    assert json.loads(gone.stdout)["hub"]["name"] == "EdgeHub"
    alerts = mesh(tmp_path, "alerts", "--json")
    assert alerts.returncode == 0 and json.loads(alerts.stdout)["hub"]["name"] == "EdgeHub"


def test_of_several_registries_the_first_that_answers_is_used(registry):
    dead = f"tcp://127.0.0.1:{free_ports(1)[0]}"
    t0 = time.monotonic()
    assert _answering([dead, registry.endpoint], PROBE_TIMEOUT_S) == registry.endpoint
    assert time.monotonic() - t0 < PROBE_TIMEOUT_S + 1
    assert _answering([registry.endpoint, dead], PROBE_TIMEOUT_S) == registry.endpoint
