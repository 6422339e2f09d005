"""Typed settings: every agent's ``settings:`` is checked against its class's model by the real
``mesh config check`` (and ``mesh up``), each problem named with its field path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.base_agent.loader import load_agent_class
from common.base_agent.settings import SettingsError
from common.config import load_config
from common.launcher import HostPlan
from common.testing.mesh import free_ports, two_host_config
from service_registry.agent import ServiceRegistry

ROOT = Path(__file__).parents[2]
SHIPPED = ROOT / "startup_config.yaml"


def mesh_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "common.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def shipped() -> dict[str, Any]:
    return yaml.safe_load(SHIPPED.read_text())


def index_of(data: dict[str, Any], name: str) -> int:
    return next(i for i, a in enumerate(data["agents"]) if a["name"] == name)


def check(tmp_path: Path, data: dict[str, Any]) -> subprocess.CompletedProcess:
    path = tmp_path / "startup_config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return mesh_cli("config", "check", str(path))


def test_the_shipped_config_passes() -> None:
    result = mesh_cli("config", "check", str(SHIPPED))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK ")


def test_what_the_plan_hands_each_agent_fits_its_class() -> None:
    """The services' derived settings (refused in YAML) are accepted from the plan."""
    config = load_config(SHIPPED)
    for host in config.hosts:
        plan = HostPlan(config, host)
        for agent in plan.agents.values():
            assert agent.module is not None
            cls = load_agent_class(agent.module)
            cls.Settings.model_validate(plan.spec(agent).settings)


def test_a_settings_typo_fails_with_its_path_and_a_did_you_mean(tmp_path: Path) -> None:
    data = shipped()
    n = index_of(data, "SystemDigitalTwin")
    data["agents"][n].setdefault("settings", {})["thresold"] = 1
    result = check(tmp_path, data)
    assert result.returncode == 2
    assert (f"agents[{n}].settings.thresold: unknown setting; did you mean "
            "'breaker_threshold'? (1)") in result.stdout
    assert result.stdout.splitlines()[-1] == "1 error"


def test_wrong_types_are_named_with_their_paths(tmp_path: Path) -> None:
    data = shipped()
    manager, twin, nllb = (index_of(data, name) for name in
                           ("ModelManagerAgent", "SystemDigitalTwin", "NLLBAdapter"))
    data["agents"][manager]["settings"]["reserve_mb"] = "lots"
    data["agents"][twin]["settings"] = {"probes": [["ServiceRegistry"]]}
    data["agents"][nllb]["settings"]["autoload"] = "yes"
    result = check(tmp_path, data)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert any(line.endswith(f"agents[{manager}].settings.reserve_mb: Input should be a "
                             "valid integer ('lots')") for line in lines), lines
    assert any(f"agents[{twin}].settings.probes[0]: List should have at least 2 items" in line
               for line in lines), lines
    assert any(line.endswith(f"agents[{nllb}].settings.autoload: Input should be a valid "
                             "boolean ('yes')") for line in lines), lines
    assert lines[-1] == "3 errors"


def test_a_model_agent_without_its_required_setting(tmp_path: Path) -> None:
    data = shipped()
    n = index_of(data, "NLLBAdapter")
    del data["agents"][n]["settings"]["vram_mb"]
    result = check(tmp_path, data)
    assert result.returncode == 2
    assert f"agents[{n}].settings.vram_mb: missing required setting" in result.stdout


def test_a_hub_without_its_service_is_told_to_declare_it(tmp_path: Path) -> None:
    """An operator's old config: the hub entry predates ``service:``."""
    data = shipped()
    n = index_of(data, "ObservabilityHub")
    del data["agents"][n]["service"]
    result = check(tmp_path, data)
    assert result.returncode == 2
    assert (f"agents[{n}].service: ObservabilityHub provides the hub service; add service: "
            "hub") in result.stdout


def test_a_derived_setting_written_by_hand_is_reported_once(tmp_path: Path) -> None:
    data = shipped()
    n = index_of(data, "ObservabilityHub")
    data["agents"][n].setdefault("settings", {})["peer"] = "tcp://10.0.0.9:9101"
    result = check(tmp_path, data)
    assert result.returncode == 2
    assert f"agents[{n}].settings.peer: no longer written by hand" in result.stdout
    assert result.stdout.splitlines()[-1] == "1 error"


def test_a_module_that_cannot_be_imported(tmp_path: Path) -> None:
    data = shipped()
    n = index_of(data, "SystemDigitalTwin")
    data["agents"][n]["module"] = "main_pc.agents.no_such_module:SystemDigitalTwin"
    result = check(tmp_path, data)
    assert result.returncode == 2
    assert f"agents[{n}].module: cannot import 'main_pc.agents.no_such_module'" in result.stdout


def test_mesh_up_refuses_a_settings_typo_and_starts_nothing(tmp_path: Path) -> None:
    ports = free_ports(3)
    agents = [{"name": "ServiceRegistry", "host": "main_pc", "service": "registry",
               "module": "service_registry.agent:ServiceRegistry", "port": ports[0]},
              {"name": "Store", "host": "main_pc", "module": "common.kinds:StoreAgent",
               "port": ports[1], "dependencies": ["ServiceRegistry"],
               "settings": {"windw": 5}}]
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(two_host_config(tmp_path, agents), sort_keys=False))
    result = mesh_cli("up", "--host", "main_pc", "--config", str(path), "--run-dir",
                      str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "agents[1].settings.windw: unknown setting; did you mean 'window'?" in result.stderr
    assert "nothing was started" in " ".join(result.stderr.split())
    assert not (tmp_path / "logs").exists()


def test_an_agent_refuses_bad_settings_naming_the_field() -> None:
    with pytest.raises(SettingsError, match=r"Reg: bad settings: settings\.db_pth: unknown "
                       r"setting; did you mean 'db_path'\?"):
        ServiceRegistry("Reg", settings={"db_pth": "x.db"})
    with pytest.raises(SettingsError, match=r"settings\.db_path: Input should be a valid "
                       r"string"):
        ServiceRegistry("Reg", settings={"db_path": 3})
    assert ServiceRegistry("Reg", settings={"db_path": "x.db"}).settings.db_path == "x.db"


def test_mesh_agent_run_refuses_bad_settings_naming_the_field() -> None:
    result = mesh_cli("agent", "run", "service_registry.agent:ServiceRegistry", "--name", "R",
                      "--settings", '{"db_pth": "x.db"}')
    assert result.returncode == 2
    assert "settings.db_pth: unknown setting; did you mean 'db_path'?" in " ".join(
        result.stderr.split())
