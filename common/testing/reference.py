"""The reference mesh (startup_config.yaml) relocated for a test or a benchmark run.

``reference_config(workdir, port_offset)`` returns the config as a dict with its logs and
SQLite state under workdir and every port moved by port_offset (the ``${PORT_OFFSET}`` ports,
and the hubs' HTTP ports and peer endpoints in their settings), so a run never touches the
repository's run/ nor a mesh already running on the standard ports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["REFERENCE_CONFIG", "reference_config", "roster_names"]

REFERENCE_CONFIG = Path(__file__).resolve().parents[2] / "startup_config.yaml"
HUB_MODULE = "observability_hub."
INFRASTRUCTURE = ("ModelManagerAgent",)  # in the config, but not one of the original 77


def _shift_endpoint(endpoint: str, offset: int) -> str:
    return re.sub(r":(\d+)$", lambda m: f":{int(m.group(1)) + offset}", endpoint)


def reference_config(workdir: Path | str, port_offset: int = 0,
                     path: Path | str = REFERENCE_CONFIG) -> dict[str, Any]:
    config = yaml.safe_load(Path(path).read_text())
    workdir = Path(workdir)
    config["global"]["port_offset"] = port_offset
    config["global"]["log_dir"] = str(workdir / "logs")
    for name, host in config["hosts"].items():
        host.setdefault("env", {})["MESH_STATE_DIR"] = str(workdir / "state" / name)
    for agent in config["agents"]:
        if (agent.get("module") or "").startswith(HUB_MODULE):
            settings = dict(agent["settings"])
            settings["http_port"] = int(settings["http_port"]) + port_offset
            settings["peer"] = _shift_endpoint(settings["peer"], port_offset)
            agent["settings"] = settings
    return config


def roster_names(config: dict[str, Any]) -> list[str]:
    """The 77 agents of the original roster (the config minus the VRAM pool manager)."""
    return [a["name"] for a in config["agents"] if a["name"] not in INFRASTRUCTURE]
