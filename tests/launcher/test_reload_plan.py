"""`mesh reload`'s plan: exactly what changed, in dependency order."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from common.config import parse_config
from common.launcher import HostPlan
from common.launcher.reload import reload_plan

pytestmark = pytest.mark.timeout(30)

SHIPPED = Path(__file__).resolve().parents[2] / "startup_config.yaml"


@pytest.fixture(scope="module")
def data() -> dict:
    return yaml.safe_load(SHIPPED.read_text())


def entry(data: dict, name: str) -> dict:
    return next(a for a in data["agents"] if a["name"] == name)


def plan(old: dict, new: dict, host: str = "main_pc"):
    return reload_plan(HostPlan(parse_config(old), host), HostPlan(parse_config(new), host))


def test_an_unchanged_config_changes_nothing(data):
    assert plan(data, data).empty
    assert plan(data, data).lines() == ["main_pc: nothing changed"]


def test_a_leaf_agents_settings_restart_only_that_agent(data):
    new = copy.deepcopy(data)
    entry(new, "EmotionSynthesisAgent").setdefault("settings", {})["delay_ms"] = 3
    result = plan(data, new)
    assert result.restart == {"EmotionSynthesisAgent": "changed: settings"}
    assert (result.stop, result.start) == ([], [])
    assert plan(data, new, "pc2").empty


def test_a_port_change_restarts_the_agent_and_its_direct_dependents(data):
    new = copy.deepcopy(data)
    entry(new, "EmotionEngine")["port"] = "${PORT_OFFSET}+5599"
    result = plan(data, new)
    dependents = sorted(a["name"] for a in data["agents"]
                        if "EmotionEngine" in a.get("dependencies", []))
    assert dependents and list(result.restart)[0] == "EmotionEngine"
    assert sorted(result.restart) == sorted(["EmotionEngine", *dependents])
    assert all("whose port changed" in result.restart[name] for name in dependents)


def test_a_port_change_on_the_other_host_restarts_only_this_hosts_dependents(data):
    new = copy.deepcopy(data)
    entry(new, "MemoryOrchestratorService")["port"] = "${PORT_OFFSET}+5598"
    assert list(plan(data, new).restart) == ["MemoryClient"]
    assert "MemoryOrchestratorService" in plan(data, new, "pc2").restart


def test_added_and_removed_agents_start_and_stop_in_dependency_order(data):
    new = copy.deepcopy(data)
    new["agents"] = [a for a in new["agents"]
                     if a["name"] not in ("DreamingModeAgent", "DreamWorldAgent")]
    new["agents"].append({"name": "Extra", "host": "pc2", "module": "pc2.agents.services:"
                          "AdvancedRouter", "port": "${PORT_OFFSET}+5597",
                          "dependencies": ["TaskScheduler"]})
    result = plan(data, new, "pc2")
    assert result.stop == ["DreamingModeAgent", "DreamWorldAgent"]
    assert result.start == ["Extra"]
    # the edge hub's agent->host map, dependency graph and the agents of the mesh-wide SLO
    # changed; nothing else restarts
    assert result.restart == {"ObservabilityHub_pc2": "its view of the mesh changed: "
                              "dependencies, hosts, slos"}
    assert plan(data, new).restart == {"ObservabilityHub": "its view of the mesh changed: "
                                       "dependencies, hosts, slos"}


def test_a_moved_hub_restarts_its_peer_to_take_the_new_endpoint(data):
    new = copy.deepcopy(data)
    entry(new, "ObservabilityHub_pc2")["port"] = "${PORT_OFFSET}+9111"
    assert plan(data, new).restart == {"ObservabilityHub": "its view of the mesh changed: peer"}
