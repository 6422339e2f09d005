"""The mesh's own services come from the config: roles decide where they run, and what they
need is derived by the host plan, never copied into ``settings:``."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from common.config import ConfigError, load_config, parse_config
from common.launcher import HostPlan

pytestmark = pytest.mark.timeout(30)

SHIPPED = Path(__file__).resolve().parents[2] / "startup_config.yaml"


@pytest.fixture(scope="module")
def shipped() -> dict:
    return yaml.safe_load(SHIPPED.read_text())


def moved(data: dict, main: str, pc2: str, offset: int) -> dict:
    """The shipped config as an operator moves it: addresses and port offset, nothing else."""
    data = copy.deepcopy(data)
    data["hosts"]["main_pc"]["address"] = main
    data["hosts"]["pc2"]["address"] = pc2
    data["global"]["port_offset"] = offset
    return data


def errors(data: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return {issue.path: issue.message for issue in info.value.errors}


def index_of(data: dict, name: str) -> int:
    return next(i for i, a in enumerate(data["agents"]) if a["name"] == name)


def test_the_hubs_derive_role_peer_port_and_the_mesh_from_the_config(shipped):
    config = parse_config(moved(shipped, "10.9.0.1", "10.9.0.2", 1000))
    central = HostPlan(config, "main_pc").spec(config.agent("ObservabilityHub")).settings
    edge = HostPlan(config, "pc2").spec(config.agent("ObservabilityHub_pc2")).settings
    assert (central["role"], edge["role"]) == ("central", "edge")
    assert central["peer"] == "tcp://10.9.0.2:10101" and edge["peer"] == "tcp://10.9.0.1:10001"
    assert (central["http_port"], edge["http_port"]) == (10000, 10100)
    assert (central["host_name"], central["peer_host_name"]) == ("main_pc", "pc2")
    assert central["hosts"] == edge["hosts"] == {a.name: a.host for a in config.agents}
    assert len(central["hosts"]) == 78 and central["hosts"]["TutorAgent"] == "pc2"
    assert central["dependencies"]["Responder"] == config.agent("Responder").dependencies


def test_the_pool_takes_each_hosts_gpus_and_the_agents_find_the_services(shipped):
    data = moved(shipped, "10.9.0.1", "10.9.0.2", 0)
    data["hosts"]["pc2"]["gpu"]["devices"][0]["vram_mb"] = 8000
    config = parse_config(data)
    plan = HostPlan(config, "pc2")
    spec = HostPlan(config, "main_pc").spec(config.agent("ModelManagerAgent"))
    assert spec.settings["local_host"] == "main_pc"
    assert spec.settings["hosts"]["pc2"]["gpu"]["devices"] == [
        {"name": "RTX 3060", "vram_mb": 8000}]
    assert spec.settings["reserve_mb"] == 500  # its own tunable, from settings:
    assert plan.registry_endpoint == "tcp://10.9.0.1:7200"
    assert plan.hub_endpoints == ["tcp://10.9.0.2:9101", "tcp://10.9.0.1:9001"]
    assert plan.manager_endpoint == "tcp://10.9.0.1:7212"
    # an agent that calls a service learns its name from the launcher, never writes it down
    env = plan.environment(config.agent("ResourceManager"))
    assert (env["MESH_SERVICE_MODEL_MANAGER"], env["MESH_SERVICE_REGISTRY"]) == (
        "ModelManagerAgent", "ServiceRegistry")


def test_a_config_that_still_copies_derived_settings_is_told_what_replaced_them(shipped):
    data = copy.deepcopy(shipped)
    hub, manager = index_of(data, "ObservabilityHub"), index_of(data, "ModelManagerAgent")
    data["agents"][hub]["settings"] = {"peer": "tcp://127.0.0.2:9101", "hosts": {}}
    data["agents"][manager]["settings"]["local_host"] = "main_pc"
    found = errors(data)
    assert "the other hub agent's host address and port" in found[
        f"agents[{hub}].settings.peer"]
    assert "each agent's own host" in found[f"agents[{hub}].settings.hosts"]
    assert f"agents[{manager}].settings.local_host" in found
    assert len(found) == 3


def test_a_service_runs_only_on_a_host_holding_its_role(shipped):
    data = copy.deepcopy(shipped)
    data["hosts"]["pc2"]["roles"] = []
    edge = index_of(data, "ObservabilityHub_pc2")
    found = errors(data)
    assert "does not hold the role hub_central or hub_edge" in found[f"agents[{edge}].service"]
    data["hosts"]["pc2"]["roles"] = ["hub_edge", "hub_central"]
    assert "hub_central" in errors(data)["hosts.pc2.roles"]


def test_a_hub_must_declare_its_http_port(shipped):
    data = copy.deepcopy(shipped)
    edge = index_of(data, "ObservabilityHub_pc2")
    del data["agents"][edge]["ports"]
    assert "ports.http_port" in errors(data)[f"agents[{edge}].ports"]


def test_the_shipped_config_names_each_service_once():
    config = load_config(SHIPPED)
    assert [a.name for a in config.providers("registry")] == ["ServiceRegistry"]
    assert [a.name for a in config.providers("hub")] == ["ObservabilityHub",
                                                         "ObservabilityHub_pc2"]
    assert [a.name for a in config.providers("model_manager")] == ["ModelManagerAgent"]
