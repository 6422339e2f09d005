"""A legacy script's own world under the launcher: interpreter, cwd, argv, env expansions, and
none of the mesh's import path (issue 18, item 1)."""

import subprocess
import sys
from pathlib import Path

from legacy_helpers import IDENTITY, ORIGINAL, legacy_call, legacy_entry, model_loader

import common

MESH_ROOT = str(Path(common.__file__).parent.parent)


def test_script_imports_its_own_common_not_the_meshs(mesh, ports, monkeypatch):
    """The launcher runs with the mesh's root forced onto PYTHONPATH (what operators did to
    get anything going); the script still gets only its own PYTHONPATH and its own common."""
    monkeypatch.setenv("PYTHONPATH", MESH_ROOT)
    run = mesh([model_loader(ports[0], ports[1])])
    run.up("main_pc")
    run.wait_ready(("main_pc",))
    report = legacy_call("127.0.0.1", ports[1], {"action": "health_check"})
    assert report["status"] == "ok"
    assert report["common"] == str(ORIGINAL / "common")
    assert report["pythonpath"] == "." and report["cwd"] == str(ORIGINAL)
    assert legacy_call("127.0.0.1", ports[0], {"action": "echo", "text": "hi"})["echo"] == "hi"


def test_script_runs_under_its_own_venv_with_expanded_args(mesh, ports, legacy_venv):
    entry = legacy_entry("DynamicIdentityAgent", "main_pc", IDENTITY, ports[0], ports[1],
                         python=str(legacy_venv),
                         args=["--port", "${PORT}", "--health-port", "${HEALTH_PORT}",
                               "--init-s", "0"],
                         env={"IDENTITY_PERSONA_URL": "http://${HOST_ADDRESS}:${ports.legacy_http}",
                              "OFFSET": "${PORT_OFFSET}", "LITERAL": "$${PORT}"})
    run = mesh([entry], port_offset=0)
    run.up("main_pc")
    run.wait_ready(("main_pc",))
    report = legacy_call("127.0.0.1", ports[1], {"action": "health_check"})
    assert report["interpreter"] == str(legacy_venv / "bin" / "python")
    assert not report["mesh_importable"], "agentmesh must not be importable in the script's venv"
    assert report["argv"] == ["--port", str(ports[0]), "--health-port", str(ports[1]),
                              "--init-s", "0"]
    env = dict(line.split("=", 1) for line in
               (Path(f"/proc/{run.agents('main_pc')['DynamicIdentityAgent']['pid']}/environ")
                .read_bytes().decode().split("\0")) if "=" in line)
    assert env["IDENTITY_PERSONA_URL"] == f"http://127.0.0.1:{ports[1] + 1}"
    assert env["OFFSET"] == "0" and env["LITERAL"] == "${PORT}"


def test_missing_interpreter_stops_mesh_up_naming_the_field(mesh, ports, tmp_path):
    run = mesh([model_loader(ports[0], ports[1], python=str(tmp_path / "nowhere"))])
    up = subprocess.run([sys.executable, "-m", "common.cli.main", "up", "--host", "main_pc",
                         "--config", str(run.config_path), "--run-dir", run.run_dir],
                        capture_output=True, text=True, timeout=30)
    assert up.returncode == 2, up.stderr
    assert f"agents.ModelLoaderAgent.python: {tmp_path / 'nowhere'} is not an executable" \
        in up.stderr
