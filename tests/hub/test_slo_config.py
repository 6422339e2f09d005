"""The slos: section: every error names its field path (each objective checked on its own);
the shipped config's SLOs resolve to the agents they cover and reach the hubs' settings."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.config import validate_data
from common.launcher.services import slo_objectives

pytestmark = pytest.mark.timeout(60)

SHIPPED = Path(__file__).parents[2] / "startup_config.yaml"


def shipped():
    return yaml.safe_load(SHIPPED.read_text())


def issues_of(slos):
    data = shipped()
    data["slos"] = slos
    config, issues = validate_data(data)
    assert config is None
    return {i.path: i.message for i in issues}


def test_every_bad_objective_is_named_with_its_path():
    found = issues_of({"window": "30x", "report_every": 0, "objectives": [
        {"name": "a", "sli": "availability", "target_percent": 99.9, "agent": "ServiceRegistyr"},
        {"name": "a", "sli": "latency", "target_percent": 99.0, "kind": "model",
         "threshold_s": 0.3},
        {"name": "c", "sli": "heartbeat", "target_percent": 100, "host": "pc3"},
        {"name": "d", "sli": "heartbeat", "target_percent": 99, "mesh": True, "agent": "X"},
        {"name": "e", "sli": "heartbeat", "target_percent": 99, "host": "pc3"},
        {"name": "f", "sli": "latency", "target_percent": 99, "mesh": True},
        {"name": "g", "sli": "availability", "target_percent": 99, "kind": "legacy",
         "windw": "7d"},
    ]})
    assert "expected a duration" in found["slos.window"]
    assert "above zero" in found["slos.report_every"]
    assert "did you mean 'ServiceRegistry'" in found["slos.objectives[0].agent"]
    assert found["slos.objectives[1].name"] == "duplicate SLO name"
    assert "bound of the latency histogram" in found["slos.objectives[1].threshold_s"]
    assert "less than 100" in found["slos.objectives[2].target_percent"]
    assert "exactly one of agent, kind, host or mesh: true (got agent, mesh)" in \
        found["slos.objectives[3]"]
    assert "unknown host" in found["slos.objectives[4].host"]
    assert "threshold_s" in found["slos.objectives[5]"]
    assert "did you mean 'window'" in found["slos.objectives[6].windw"]


def test_a_kind_with_no_agent_is_an_error():
    found = issues_of({"objectives": [{"name": "l", "sli": "availability",
                                       "target_percent": 99, "kind": "legacy"}]})
    assert found == {"slos.objectives[0].kind": "no agent of this kind in the config"}


def test_shipped_slos_resolve_to_their_agents():
    config, issues = validate_data(shipped())
    assert not issues
    by_name = {o["name"]: o for o in slo_objectives(config)}
    assert by_name["registry-availability"]["agents"] == ["ServiceRegistry"]
    assert by_name["registry-availability"]["objective"] == pytest.approx(0.999)
    assert by_name["registry-availability"]["window_s"] == 30 * 86400
    assert len(by_name["mesh-heartbeat"]["agents"]) == len(config.agents)
    assert set(by_name["pc2-availability"]["hosts"].values()) == {"pc2"}
    models = by_name["model-latency"]["agents"]
    assert models and all(config.agent(n).resources.vram_mb > 0 for n in models)


def test_mesh_config_check_prints_slo_errors(tmp_path):
    data = shipped()
    data["slos"]["objectives"][0]["agent"] = "Nobody"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    cli = subprocess.run([sys.executable, "-m", "common.cli.main", "config", "check",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2
    assert "slos.objectives[0].agent: unknown agent" in cli.stdout + cli.stderr
