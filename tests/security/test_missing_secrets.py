"""A secret that cannot be read: `mesh up` names each one and starts nothing; an optional one
is left out and said so."""

from __future__ import annotations

from pathlib import Path

import pytest
from secret_helpers import REGISTRY, Secrets, entry, mesh_agents, mesh_config

from common.config import validate_data
from common.launcher import HostPlan
from common.testing.mesh import MeshRun, free_ports


def plan(tmp_path: Path, agents: list[dict], host: str = "main_pc") -> HostPlan:
    config, issues = validate_data(mesh_config(tmp_path, agents))
    assert config is not None, issues
    return HostPlan(config, host)


def broken_agents(secrets: Secrets, tmp_path: Path) -> list[dict]:
    """An unset variable and an empty file on main_pc, a missing file on pc2."""
    (tmp_path / "empty.key").write_text("\n")
    ports = free_ports(4)
    return [
        entry("ServiceRegistry", "main_pc", ports[0], REGISTRY, service="registry"),
        entry("NoEnv", "main_pc", ports[1], secrets={"API_KEY": {"env": secrets.unset_var}}),
        entry("Empty", "main_pc", ports[2],
              secrets={"API_KEY": {"file": str(tmp_path / "empty.key")}}),
        entry("NoFile", "pc2", ports[3],
              secrets={"TOKEN": {"file": str(tmp_path / "absent.key")}}),
    ]


@pytest.mark.timeout(60)
def test_mesh_up_names_every_missing_secret_and_starts_nothing(procs, tmp_path, secrets):
    run = MeshRun(procs, tmp_path, mesh_config(tmp_path, broken_agents(secrets, tmp_path)))
    try:
        assert run.up("all").proc.wait(30) == 2
    finally:
        run.close()
    errors = "".join(p.read_text() for p in tmp_path.glob("proc-*-up.log"))
    assert f"agents.NoEnv.secrets.API_KEY: environment variable {secrets.unset_var} is not " \
           f"set for the launcher" in errors
    assert f"agents.Empty.secrets.API_KEY: file {tmp_path / 'empty.key'} is empty" in errors
    assert f"agents.NoFile.secrets.TOKEN: cannot read file {tmp_path / 'absent.key'}: " \
           f"No such file or directory" in errors
    assert "3 required secret(s) cannot be read; nothing was started" in errors
    assert not (tmp_path / "logs").exists()  # no agent, not even the registry, ever ran


def test_only_the_secrets_of_the_host_to_start_must_be_readable(tmp_path, secrets):
    agents = broken_agents(secrets, tmp_path)
    assert len(plan(tmp_path, agents, "main_pc").missing_secrets()) == 2
    assert plan(tmp_path, agents, "pc2").missing_secrets() == [
        f"agents.NoFile.secrets.TOKEN: cannot read file {tmp_path / 'absent.key'}: "
        f"No such file or directory"]


def test_a_missing_optional_secret_is_left_out_and_flagged_in_the_spec(tmp_path, secrets):
    host = plan(tmp_path, mesh_agents(secrets, free_ports(6)), "pc2")
    assert host.missing_secrets() == []
    unkeyed = host.spec(host.agents["Unkeyed"])
    assert "API_KEY" not in unkeyed.env and unkeyed.secrets == {"API_KEY": True}
    keyed = host.spec(host.agents["SignerPc2"])
    assert keyed.env["API_KEY"] == secrets.env_value and keyed.secrets == {"API_KEY": False}


def test_no_agent_inherits_a_secret_source_of_any_host(tmp_path, secrets):
    hidden = plan(tmp_path, mesh_agents(secrets, free_ports(6)), "main_pc").secret_variables()
    assert hidden == {"API_KEY", "MESH_HUB_TOKEN", secrets.env_var, secrets.hub_var,
                      secrets.unset_var}


def test_optional_is_a_strict_boolean(tmp_path, secrets):
    agents = mesh_agents(secrets, free_ports(6))
    agents[2]["secrets"]["API_KEY"]["optional"] = "yes"
    config, issues = validate_data(mesh_config(tmp_path, agents))
    assert config is None
    assert [issue.path for issue in issues] == ["agents[2].secrets.API_KEY.optional"]
