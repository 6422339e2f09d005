"""``mesh systemd-unit``: the unit it prints passes ``systemd-analyze verify``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.testing.mesh import two_host_config

MESH = [sys.executable, "-m", "common.cli.main"]
ANALYZE = shutil.which("systemd-analyze")


def _unit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "my mesh" / "startup_config.yaml"  # a space: the unit must quote it
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(two_host_config(tmp_path, [{
        "name": "Echo", "host": "pc2", "port": 7777,
        "module": "common.testing.agents:EchoAgent"}])))
    return subprocess.run([*MESH, "systemd-unit", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path)


def _settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith("#"))


def test_the_unit_runs_the_launcher_in_the_foreground_and_stops_it_with_down(tmp_path):
    out = _unit(tmp_path, "--host", "pc2", "--address", "pc2=127.0.0.2")
    assert out.returncode == 0, out.stderr
    unit = _settings(out.stdout)
    config = str(tmp_path / "my mesh" / "startup_config.yaml")
    assert unit["Type"] == "simple" and unit["Restart"] == "on-failure"
    assert unit["WorkingDirectory"] == str(tmp_path / "my mesh")
    start, stop = unit["ExecStart"], unit["ExecStop"]
    assert start.split()[0].startswith("/") and stop.split()[0] == start.split()[0]
    assert start.endswith(f'up --host pc2 --config "{config}" --address pc2=127.0.0.2')
    assert f'down --host pc2 --config "{config}" --address pc2=127.0.0.2 --timeout ' in stop
    assert int(unit["TimeoutStopSec"]) > int(stop.rsplit(" ", 1)[1]) > 0
    assert unit["KillMode"] == "mixed" and unit["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed "
                    "(apt-get install systemd)")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    out = _unit(tmp_path, "--host", "pc2", "--user", "root")
    assert out.returncode == 0, out.stderr
    path = tmp_path / "agentmesh.service"
    path.write_text(out.stdout)
    verify = subprocess.run([ANALYZE, "verify", str(path)], capture_output=True, text=True,
                            timeout=60)
    ours = [line for line in (verify.stdout + verify.stderr).splitlines()
            if "agentmesh.service" in line]
    assert verify.returncode == 0 and not ours, verify.stdout + verify.stderr


def test_an_unknown_host_is_an_error(tmp_path):
    out = _unit(tmp_path, "--host", "pc3")
    assert out.returncode == 2 and "unknown host 'pc3'" in out.stderr
