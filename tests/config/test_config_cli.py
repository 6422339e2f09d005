"""``mesh config check|show``, exercised through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from common.cli.config_cmd import EXIT_INVALID, config_app

HERE = Path(__file__).parent
GOOD = str(HERE / "good" / "two_hosts.yaml")
MAIN_PC = str(HERE / "legacy" / "main_pc_startup_config.yaml")
PC2 = str(HERE / "legacy" / "pc2_startup_config.yaml")
runner = CliRunner()


def test_check_ok_prints_one_summary_line() -> None:
    result = runner.invoke(config_app, ["check", GOOD])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"OK {GOOD}: 7 agents on 2 hosts (main_pc 5, pc2 2), 12 ports, 4 start waves"]


def test_check_json_ok() -> None:
    result = runner.invoke(config_app, ["check", "--json", GOOD])
    assert result.exit_code == 0
    summary = json.loads(result.output)["summary"]
    assert summary["agents_per_host"] == {"main_pc": 5, "pc2": 2} and summary["waves"] == 4


def test_check_broken_prints_every_error_and_exits_2() -> None:
    broken = str(HERE / "broken" / "all_errors_at_once.yaml")
    result = runner.invoke(config_app, ["check", broken])
    assert result.exit_code == EXIT_INVALID == 2
    lines = result.output.splitlines()
    assert lines[-1] == "9 errors"
    assert lines[0] == f"{broken}: global.security: Input should be 'plain' or 'curve' ('tls')"


def test_check_legacy_pair_reports_the_cycle_and_clashes() -> None:
    result = runner.invoke(config_app, ["check", MAIN_PC, PC2])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == "33 errors"
    assert ("TTSService.dependencies[2]: dependency cycle: TTSService -> "
            "StreamingInterruptHandler -> StreamingTTSAgent -> TTSService") in result.output
    assert f"{PC2}: error_bus_port: 7150 collides with pc2.VisionProcessingAgent.port" \
        in result.output


def test_check_json_errors() -> None:
    result = runner.invoke(config_app, ["check", "--json", PC2])
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert report["ok"] is False and len(report["errors"]) == 11
    assert report["errors"][0] == {"path": "error_bus_port", "source": PC2,
                                   "message": "7150 collides with pc2.VisionProcessingAgent.port"}


def test_check_missing_file_and_default_path(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(config_app, ["check"])
    assert result.exit_code == 2
    assert result.output.startswith("startup_config.yaml: cannot read the file")
    (tmp_path / "startup_config.yaml").write_text(Path(GOOD).read_text())
    assert runner.invoke(config_app, ["check"]).exit_code == 0


def test_check_three_files_is_refused() -> None:
    result = runner.invoke(config_app, ["check", GOOD, MAIN_PC, PC2])
    assert result.exit_code == 2 and "legacy MainPC and PC2 pair" in result.output


def test_show_prints_resolved_yaml_with_defaults() -> None:
    result = runner.invoke(config_app, ["show", GOOD])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    registry = shown["agents"][0]
    assert registry["port"] == 7300 and registry["ports"] == {"events_port": 7301}
    assert registry["restart"] == {"policy": "always", "backoff_initial_s": 1.0,
                                   "backoff_max_s": 60.0, "stable_s": 60.0,
                                   "crash_loop_starts": 5}
    assert shown["global"]["health"]["retries"] == 3


def test_show_json_with_port_offset_from_the_environment() -> None:
    result = runner.invoke(config_app, ["show", "--json", GOOD], env={"PORT_OFFSET": "500"})
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["global"]["port_offset"] == 500 and shown["agents"][0]["port"] == 7700


def test_show_refuses_an_invalid_config() -> None:
    result = runner.invoke(config_app, ["show", PC2])
    assert result.exit_code == 2 and result.output.splitlines()[-1] == "11 errors"
