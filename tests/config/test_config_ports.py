"""``hosts.<h>.launcher_port`` and ``mesh config ports``: what each host opens in its firewall."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from common.cli.main import app
from common.config import ConfigError, load_config
from common.config.host_schema import LAUNCHER_PORT_BASE

ROOT = Path(__file__).parents[2]
REFERENCE = ROOT / "startup_config.yaml"
runner = CliRunner()


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "mesh.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _small(**hosts: dict) -> dict:
    return {"version": 1, "global": {"port_offset": 1000},
            "hosts": {"main_pc": {"address": "10.0.0.1", "roles": ["registry"],
                                  **hosts.get("main_pc", {})},
                      "pc2": {"address": "10.0.0.2", **hosts.get("pc2", {})}},
            "agents": [{"name": "ServiceRegistry", "host": "main_pc", "service": "registry",
                        "module": "service_registry.agent:ServiceRegistry",
                        "port": "${PORT_OFFSET}+7200"},
                       {"name": "Echo", "host": "pc2", "port": "${PORT_OFFSET}+7100",
                        "module": "common.testing.agents:EchoAgent"}]}


def test_launcher_ports_default_to_the_offset_plus_the_hosts_position(tmp_path) -> None:
    config = load_config(_write(tmp_path, _small()))
    assert config.hosts["main_pc"].launcher_port == 1000 + LAUNCHER_PORT_BASE
    assert config.hosts["pc2"].launcher_port == 1000 + LAUNCHER_PORT_BASE + 1
    assert config.launcher_port("pc2") == 1000 + LAUNCHER_PORT_BASE + 1


def test_a_written_launcher_port_is_resolved_like_any_port(tmp_path) -> None:
    config = load_config(_write(tmp_path, _small(pc2={"launcher_port": "${PORT_OFFSET}+7399"})))
    assert config.hosts["pc2"].launcher_port == 8399


def test_a_launcher_port_takes_part_in_the_collision_check(tmp_path) -> None:
    path = _write(tmp_path, _small(pc2={"launcher_port": "${PORT_OFFSET}+7200"}))
    try:
        load_config(path)
    except ConfigError as exc:
        messages = [str(issue) for issue in exc.errors]
    else:
        raise AssertionError("a launcher port equal to the registry's port was accepted")
    assert any("hosts.pc2.launcher_port: 8200 collides with main_pc.ServiceRegistry.port"
               in m for m in messages), messages


def test_config_ports_lists_every_port_of_a_host_with_its_owner() -> None:
    result = runner.invoke(app, ["config", "ports", str(REFERENCE), "--host", "main_pc"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 80
    config = load_config(REFERENCE)
    rows = {tuple(line.split()) for line in lines[2:]}
    assert (str(config.launcher_port("main_pc")), "zmq", "launcher_port", "launcher") in rows
    hub = config.agent("ObservabilityHub")
    assert (str(hub.ports["http_port"]), "http", "ports.http_port", "ObservabilityHub") in rows
    expected = sum(len(list(a.declared_ports())) for a in config.agents_on("main_pc")) + 1
    assert len(rows) == expected
    assert all(len(row) == 4 for row in rows)  # every agent name whole, in its own column


def test_config_ports_json_and_ufw_cover_both_hosts() -> None:
    result = runner.invoke(app, ["config", "ports", str(REFERENCE), "--json"])
    assert result.exit_code == 0, result.output
    hosts = json.loads(result.output)["hosts"]
    config = load_config(REFERENCE)
    declared = {port for a in config.agents for _, port in a.declared_ports()}
    declared |= {p for h in config.hosts.values() for p in h.reserved_ports.values()}
    declared |= {config.launcher_port(h) for h in config.hosts}
    assert {u["port"] for h in hosts.values() for u in h["ports"]} == declared
    assert hosts["pc2"]["peers"] == {"main_pc": config.hosts["main_pc"].address}
    ufw = runner.invoke(app, ["config", "ports", str(REFERENCE), "--host", "pc2", "--ufw"])
    pc2, main = config.hosts["pc2"].address, config.hosts["main_pc"].address
    assert (f"ufw allow proto tcp from {main} to {pc2} port {config.launcher_port('pc2')} "
            "comment 'agentmesh launcher launcher_port'") in ufw.output.splitlines()


def test_config_ports_of_an_unknown_host_exits_2() -> None:
    result = runner.invoke(app, ["config", "ports", str(REFERENCE), "--host", "pc3"])
    assert result.exit_code == 2 and "unknown host 'pc3'" in result.output
