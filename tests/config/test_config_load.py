"""Loading a valid config: ports resolved, defaults filled, every error reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from common.config import (
    ConfigError,
    MeshConfig,
    check_config,
    load_config,
    parse_config,
    validate_data,
)
from common.config.issues import REDACTED

HERE = Path(__file__).parent
GOOD = HERE / "good" / "two_hosts.yaml"


def good_data() -> dict:
    return yaml.safe_load(GOOD.read_text())


def test_good_config_resolves_port_expressions_to_ints() -> None:
    config = load_config(GOOD)
    assert config.global_.port_offset == 100
    assert config.agent("ServiceRegistry").port == 7300
    assert config.agent("ServiceRegistry").ports == {"events_port": 7301}
    assert config.agent("ObservabilityHub").port == 9000  # plain ints are not offset
    assert config.hosts["pc2"].reserved_ports == {"error_bus_port": 7250}
    assert all(isinstance(port, int) for agent in config.agents
               for _, port in agent.declared_ports())


def test_port_offset_argument_overrides_the_file() -> None:
    config = load_config(GOOD, port_offset=1000)
    assert config.global_.port_offset == 1000
    assert config.agent("MemoryOrchestratorService").port == 8140


def test_defaults_are_filled() -> None:
    config = load_config(GOOD)
    registry = config.agent("ServiceRegistry")
    assert registry.required is True
    assert registry.restart.policy == "always"
    assert (registry.restart.backoff_initial_s, registry.restart.backoff_max_s) == (1.0, 60.0)
    assert registry.health_port is None and registry.dependencies == []
    assert config.global_.health.start_period_s == 30.0
    assert config.global_.heartbeat_interval_s == 0.5


def test_cross_host_dependencies_and_secret_references_are_accepted() -> None:
    config = load_config(GOOD)
    client = config.agent("MemoryClient")
    assert client.host == "main_pc"
    assert config.agent(client.dependencies[0]).host == "pc2"
    secret = config.agent("AudioCapture").secrets["PORCUPINE_ACCESS_KEY"]
    assert (secret.env, secret.file) == (None, "/run/secrets/porcupine")
    assert check_config(config) == []


def test_resolved_dump_reloads_to_the_same_config() -> None:
    config = load_config(GOOD)
    dumped = yaml.safe_load(yaml.safe_dump(config.to_data()))
    assert dumped["global"]["port_offset"] == 100
    again = parse_config(dumped, port_offset=0)  # ports are already resolved ints
    assert again.agents == config.agents


def test_model_validate_resolves_with_the_documents_own_offset() -> None:
    config = MeshConfig.model_validate(good_data())
    assert config.agent("ServiceRegistry").port == 7300


def test_all_errors_are_reported_at_once() -> None:
    data = good_data()
    data["agents"][0]["prot"] = 1
    data["agents"][2]["port"] = 9000
    data["agents"][4]["dependencies"] = ["MemoryOrchestratorSvc"]
    data["agents"][5]["required"] = "no"
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    paths = [issue.path for issue in raised.value.errors]
    assert paths == ["agents[0].prot", "agents[2].port", "agents[4].dependencies[0]",
                     "agents[5].required"]
    assert "4 config errors" in str(raised.value)


def test_a_broken_agent_does_not_cascade_into_unknown_dependency_errors() -> None:
    data = good_data()
    data["agents"][3]["port"] = "not a port"  # MemoryOrchestratorService; MemoryClient needs it
    config, issues = validate_data(data)
    assert config is None
    assert [issue.path for issue in issues] == ["agents[3].port"]


def test_secret_values_are_never_echoed() -> None:
    data = good_data()
    data["agents"][0]["env"] = {"DB_PASSWORD": "hunter2"}
    data["agents"][1]["secrets"] = {"HUB_TOKEN": "s3cr3t"}
    _, issues = validate_data(data)
    assert [issue.value for issue in issues] == [REDACTED, REDACTED]
    assert not any("hunter2" in str(issue) or "s3cr3t" in str(issue) for issue in issues)


def test_numbers_and_flags_under_secret_like_names_are_not_secrets() -> None:
    data = good_data()
    data["agents"][0]["env"] = {"TOKEN_TTL_S": "3600", "PASSWORD_AUTH": "false"}
    data["agents"][0]["settings"] = {"max_tokens": 512, "token_budget": 20}
    assert validate_data(data)[1] == []


def test_issue_renders_path_message_and_value() -> None:
    _, issues = validate_data({**good_data(), "verison": 1})
    assert [str(issue) for issue in issues] == [
        "verison: unknown key 'verison'; did you mean 'version'? (1)"]
    assert issues[0].to_dict() == {"path": "verison", "value": 1,
                                   "message": "unknown key 'verison'; did you mean 'version'?"}


def test_not_a_mapping_is_one_clear_error() -> None:
    config, issues = validate_data(["agents"])
    assert config is None and len(issues) == 1 and "expected a mapping" in issues[0].message
