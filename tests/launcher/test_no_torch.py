"""The mesh without torch (the ``models`` extra): hosts without model agents never load it, and
`mesh up` refuses a host with model agents where torch is missing, naming them and the command.

`make test-py310` runs these in a fresh Python 3.10 venv made by `pip install '.[test]'`, with no
torch: `mesh` runs from a folder outside the source tree, so it is the installed package.  Where
torch is installed they run too (torch hidden from the processes that must not have it).
"""

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from common.extras import INSTALL_MODELS, TorchMissing, missing_torch
from common.model_agent import TorchModelAgent
from common.testing.mesh import two_host_config
from tests.launcher.conftest import agent

REGISTRY = "service_registry.agent:ServiceRegistry"
ECHO = "common.testing.agents:EchoAgent"
MODEL = "common.kinds.model:ModelWorker"


def mesh_cli(cwd: Path, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "common.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, env=env)


def hidden_torch_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a Python that cannot import torch, installed or not."""
    site = tmp_path / "no_torch"
    site.mkdir()
    (site / "sitecustomize.py").write_text('import sys\nsys.modules["torch"] = None\n')
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def no_model_agents(ports):
    return [agent("ServiceRegistry", "main_pc", ports[0], module=REGISTRY, service="registry"),
            agent("A", "main_pc", ports[1], ["ServiceRegistry"], module=ECHO),
            agent("B", "pc2", ports[2], ["A"], module=ECHO)]


def test_two_hosts_without_model_agents_check_start_and_never_load_torch(mesh, procs, ports,
                                                                        tmp_path):
    run = mesh(no_model_agents(ports))
    check = mesh_cli(tmp_path, "config", "check", str(run.config_path))
    assert check.returncode == 0, check.stdout + check.stderr
    up = procs.mesh("up", "--host", "all", "--config", str(run.config_path), "--run-dir",
                    run.run_dir, ready=False, cwd=str(tmp_path))
    agents = run.wait_ready(timeout_s=30)
    assert sorted(agents) == ["A", "B", "ServiceRegistry"]
    tree = [psutil.Process(up.pid), *psutil.Process(up.pid).children(recursive=True)]
    assert len(tree) >= 2 + 2 + 3  # `mesh up`'s launchers, their fork servers, the agents
    for proc in tree:
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "torch" not in maps, f"{proc.cmdline()} loaded torch"


def test_mesh_up_refuses_a_host_with_model_agents_where_torch_is_missing(ports, tmp_path):
    agents = [*no_model_agents(ports),
              agent("Speaker", "pc2", ports[3], ["ServiceRegistry"], module=MODEL,
                    settings={"vram_mb": 100})]
    config = tmp_path / "mesh.yaml"
    config.write_text(yaml.safe_dump(two_host_config(tmp_path, agents), sort_keys=False))
    env = hidden_torch_env(tmp_path)
    check = mesh_cli(tmp_path, "config", "check", str(config), env=env)
    assert check.returncode == 0, check.stdout + check.stderr  # valid on any host
    out = mesh_cli(tmp_path, "up", "--host", "all", "--config", str(config), "--run-dir",
                   str(tmp_path / "run"), env=env)
    err = " ".join(out.stderr.split())  # rich wraps long lines
    assert out.returncode == 2, err
    assert "pc2: Speaker: a model agent needs torch" in err and INSTALL_MODELS in err
    assert "nothing was started" in err and "Traceback" not in err
    assert not (tmp_path / "logs").exists()


def test_a_model_agent_without_torch_stops_at_setup_naming_itself(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if not installed
    assert missing_torch({"A": ECHO, "Speaker": MODEL, "Bare": TorchModelAgent.__module__ +
                          ":TorchModelAgent", "Typo": "no.such:Agent"}) == ["Speaker", "Bare"]
    model = TorchModelAgent("Speaker", settings={"vram_mb": 100})
    with pytest.raises(TorchMissing, match=r"Speaker: a model agent needs torch.*"
                       r"pip install 'agentmesh\[models\]'"):
        model.on_setup()
