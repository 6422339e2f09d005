"""What an operator types: up --detach, status --json, restart, logs, down."""

import json
import os
import subprocess
import sys

import psutil
import pytest

from tests.launcher.conftest import agent

MESH = [sys.executable, "-m", "common.cli.main"]


def _mesh(run, *args, timeout=30):
    return subprocess.run([*MESH, *args, "--config", str(run.config_path)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_detached_mesh_is_operated_from_the_cli(mesh, ports):
    run = mesh([agent("ServiceRegistry", "main_pc", ports[0],
                      module="service_registry.agent:ServiceRegistry", service="registry"),
                agent("A", "main_pc", ports[1], ["ServiceRegistry"]),
                agent("B", "pc2", ports[2], ["A"])])
    rd = ("--run-dir", run.run_dir)
    up = _mesh(run, "up", "--detach", *rd)
    assert up.returncode == 0, up.stderr
    launchers = []
    try:
        agents = run.wait_ready()
        launchers = [run.status(h)["pid"] for h in ("main_pc", "pc2")]
        status = _mesh(run, "status", "--json", *rd)
        assert status.returncode == 0
        names = {a["name"] for h in json.loads(status.stdout)["hosts"] for a in h["agents"]}
        assert names == {"ServiceRegistry", "A", "B"}
        assert _mesh(run, "restart", "A", *rd).returncode == 0
        run.wait(("main_pc",), lambda a: a["A"]["pid"] != agents["A"]["pid"]
                 and a["A"]["ready"], what="A restarted")
        logs = _mesh(run, "logs", "A", "-n", "5")
        assert logs.returncode == 0 and "[A]" in logs.stdout
        assert "no agent 'Nope'" in _mesh(run, "restart", "Nope", *rd).stderr
    finally:
        down = _mesh(run, "down", *rd)
    assert down.returncode == 0 and "main_pc: stopped" in down.stdout
    assert not [p for p in launchers if _running(p)]
    assert _mesh(run, "status", *rd).returncode == 1


def test_status_without_a_launcher_says_so(mesh, ports):
    run = mesh([agent("A", "main_pc", ports[1])])
    out = _mesh(run, "status", "--run-dir", run.run_dir)
    assert out.returncode == 1
    assert f"main_pc: launcher at {run.launcher_endpoint('main_pc')} not answering" in out.stderr
    assert os.path.exists(run.config_path)


def _running(pid: int) -> bool:
    """pid runs: exists and is not a zombie its parent has yet to reap."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
