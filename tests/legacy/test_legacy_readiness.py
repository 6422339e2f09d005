"""Honest readiness of legacy scripts (issue 18, item 2): a healthy status only, named ports
accepting, the reply's text shown while not ready, health: per agent."""

import os
import subprocess
import sys

import pytest
from legacy_helpers import MEMORY, legacy_entry, model_loader


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_twenty_second_constructor_is_ready_only_once_healthy_and_its_port_accepts(mesh,
                                                                                   ports):
    """The original's 20 s constructor: {"status": "error"} on its health port at once, its
    main port bound only at the end.  Its own start_period_s (40) overrides the global 10."""
    entry = model_loader(ports[0], ports[1], init_s=20,
                         health={"ports": ["port"], "start_period_s": 40})
    run = mesh([entry])
    run.up("main_pc")
    agents = run.wait(("main_pc",), lambda a: a["ModelLoaderAgent"]["health_text"],
                      what="the error reply in the launcher's status")
    assert agents["ModelLoaderAgent"]["state"] == "starting"
    assert '"status": "error"' in agents["ModelLoaderAgent"]["health_text"]
    shown = subprocess.run([sys.executable, "-m", "common.cli.main", "status", "--config",
                            str(run.config_path), "--host", "main_pc"],
                           capture_output=True, text=True, timeout=30,
                           env={**os.environ, "COLUMNS": "200"})
    assert "initializing" in shown.stdout, shown.stdout + shown.stderr
    agent = run.wait(("main_pc",), lambda a: a["ModelLoaderAgent"]["ready"], timeout_s=60,
                     what="ModelLoaderAgent ready")["ModelLoaderAgent"]
    assert agent["ready_at"] - agent["started_at"] >= 20.0
    assert agent["health_text"] == "" and agent["restarts"] == 0


def test_an_ok_reply_is_not_ready_when_the_agent_accepts_only_ready(mesh, ports):
    entry = legacy_entry("MemoryOrchestratorService", "main_pc", MEMORY, ports[0], ports[1],
                         env={"MEMORY_ORCHESTRATOR_PORT": "${PORT}",
                              "MEMORY_ORCHESTRATOR_HEALTH_PORT": "${HEALTH_PORT}"},
                         health={"healthy": ["READY"]})
    run = mesh([entry])
    run.up("main_pc")
    agents = run.wait(("main_pc",), lambda a: '"status": "ok"' in
                      a["MemoryOrchestratorService"]["health_text"], what="an ok reply seen")
    assert not agents["MemoryOrchestratorService"]["ready"]
    assert agents["MemoryOrchestratorService"]["state"] == "starting"


def test_undeclared_health_port_name_is_refused_by_the_schema(mesh, ports, tmp_path):
    run = mesh([model_loader(ports[0], ports[1], health={"ports": ["grpc"]})])
    check = subprocess.run([sys.executable, "-m", "common.cli.main", "config", "check",
                            str(run.config_path)], capture_output=True, text=True, timeout=30)
    assert check.returncode != 0
    assert "health.ports: 'grpc' is not a port of this agent" in check.stdout + check.stderr
