"""Rebuild the original system's two startup files from the reference roster.

    python tests/config/make_legacy_configs.py [ROSTER]   (default: ../shared/reference/roster.yaml)

Writes ``tests/config/legacy/main_pc_startup_config.yaml`` (nested ``agent_groups``) and
``tests/config/legacy/pc2_startup_config.yaml`` (flat ``pc2_services``) in the two schemas and
with the fields those files had at abaf7870 (2025-07-25): script_path, port and
health_check_port as ``${PORT_OFFSET}+N``, required, dependencies, and the ``config`` blocks the
reference describes. Script paths come from the comment after each roster entry. Values the
reference names without giving (the environment flags, MMS models_dir) are marked "assumed".
The output is committed; this script is only needed to regenerate it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT_ROSTER = HERE.parents[2] / "shared" / "reference" / "roster.yaml"
OPTIONAL = {"TinyLlamaServiceEnhanced", "GoTToTAgent", "CognitiveModelAgent"}
CONFIG_BLOCKS = {
    ("main_pc", "ServiceRegistry"): {"backend": "memory"},
    ("main_pc", "ModelManagerSuite"): {"models_dir": "models",  # assumed value
                                       "vram_budget_percentage": 80, "idle_timeout": 300},
    ("main_pc", "ObservabilityHub"): {"prometheus_enabled": True, "parallel_health_checks": True,
                                      "prediction_enabled": True},
    ("pc2", "ObservabilityHub"): {"scope": "pc2_agents", "prometheus_port": 9100,
                                  "cross_machine_sync": True,
                                  "mainpc_hub_endpoint": "${MAINPC_OBS_HUB}",
                                  "parallel_health_checks": True, "prediction_enabled": True},
}
HUB_SCRIPT = ("phase1_implementation/consolidated_agents/observability_hub/"
              "backup_observability_hub/observability_hub.py")
MAIN_HEADER = """\
# MainPC startup config of the original system (main_pc_code/config/startup_config.yaml at
# abaf7870), rebuilt from shared/reference/roster.yaml by tests/config/make_legacy_configs.py.
# Generated; do not edit by hand.
global_settings:
  environment:
    PYTHONPATH: /app
    LOG_LEVEL: INFO                # assumed value
    DEBUG_MODE: "false"            # assumed value
    ENABLE_METRICS: "true"         # assumed value
    ENABLE_TRACING: "true"         # assumed value
    ENABLE_DATA_OPTIMIZER: "true"  # assumed value
    DATA_OPTIMIZER_METHOD: compressed_msgpack
  resource_limits: {cpu_percent: 80, memory_mb: 2048, max_threads: 4}
  health_checks: {interval_seconds: 30, timeout_seconds: 10, retries: 3}
agent_groups:
"""
PC2_HEADER = """\
# PC2 startup config of the original system (pc2_code/config/startup_config.yaml at abaf7870),
# rebuilt from shared/reference/roster.yaml by tests/config/make_legacy_configs.py.
# Generated; do not edit by hand.
global_settings:
  environment: {PYTHONPATH: '${PYTHONPATH}:${PWD}/..'}
  resource_limits: {cpu_percent: 80, memory_mb: 4096, max_threads: 8}
  health_checks: {interval_seconds: 30, timeout_seconds: 10, retries: 3}
pc2_services:
"""
PC2_FOOTER = """\
health_checks: {start_period_seconds: 300}
pc2_network:
  host: 0.0.0.0
  agent_ports: {start: 7100, end: 7199}
  health_check_ports: {start: 8100, end: 8199}
error_bus_port: "${PORT_OFFSET}+7150"
"""


def script_paths(text: str) -> dict[tuple[str, str], str]:
    """(host, name) -> script path, from the comment after each roster entry."""
    paths, host = {}, ""
    for line in text.splitlines():
        if re.match(r"^(main_pc|pc2):", line):
            host = line.rstrip(":")
        entry = re.match(r"^\s+- \{name: (\w+),.*\}\s+#\s*([^;\s]+)", line)
        if entry:
            path = entry[2] if entry[2].endswith(".py") else HUB_SCRIPT
            paths[(host, entry[1])] = path
    return paths


def port(number: int) -> str:
    return f'"${{PORT_OFFSET}}+{number}"'


def inline(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000, sort_keys=False).strip()


def agent_lines(host: str, agent: dict[str, Any], script: str, indent: str) -> list[str]:
    lines = [
        f"{indent}script_path: {script}",
        f"{indent}port: {port(agent['port'])}",
        f"{indent}health_check_port: {port(agent['health_port'])}",
        f"{indent}required: {'false' if agent['name'] in OPTIONAL else 'true'}",
        f"{indent}dependencies: {inline(agent['deps'])}",
    ]
    block = CONFIG_BLOCKS.get((host, agent["name"]))
    if block:
        lines.append(f"{indent}config: {inline(block)}")
    return lines


def main_pc_text(roster: dict[str, Any], scripts: dict[tuple[str, str], str]) -> str:
    lines, group = [MAIN_HEADER.rstrip("\n")], None
    for agent in roster["main_pc"]:
        if agent["group"] != group:
            group = agent["group"]
            lines.append(f"  {group}:")
        lines.append(f"    {agent['name']}:")
        lines += agent_lines("main_pc", agent, scripts[("main_pc", agent["name"])], " " * 6)
    return "\n".join(lines) + "\n"


def pc2_text(roster: dict[str, Any], scripts: dict[tuple[str, str], str]) -> str:
    lines = [PC2_HEADER.rstrip("\n")]
    for agent in roster["pc2"]:
        lines.append(f"  - name: {agent['name']}")
        lines.append(f"    script_path: {scripts[('pc2', agent['name'])]}")
        lines.append("    host: 0.0.0.0")
        lines += agent_lines("pc2", agent, "", " " * 4)[1:]
    return "\n".join(lines) + "\n" + PC2_FOOTER


def main(argv: list[str]) -> None:
    roster_path = Path(argv[0]) if argv else DEFAULT_ROSTER
    text = roster_path.read_text(encoding="utf-8")
    roster, scripts = yaml.safe_load(text), script_paths(text)
    out = HERE / "legacy"
    out.mkdir(exist_ok=True)
    (out / "main_pc_startup_config.yaml").write_text(main_pc_text(roster, scripts))
    (out / "pc2_startup_config.yaml").write_text(pc2_text(roster, scripts))


if __name__ == "__main__":
    main(sys.argv[1:])
