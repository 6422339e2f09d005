"""The reference mesh (startup_config.yaml) relocated for a test or a benchmark run.

``reference_config(workdir, port_offset)`` returns the config as a dict with its logs and
SQLite state under workdir, every port moved by ``global.port_offset`` and (given) the hosts'
addresses changed, as an operator would move it, so a run never touches the repository's run/
nor a mesh already running on the standard ports.  Nothing else is changed: every service
derives its view from the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["REFERENCE_CONFIG", "reference_config", "roster_names"]

REFERENCE_CONFIG = Path(__file__).resolve().parents[2] / "startup_config.yaml"


def reference_config(workdir: Path | str, port_offset: int = 0,
                     path: Path | str = REFERENCE_CONFIG,
                     addresses: dict[str, str] | None = None) -> dict[str, Any]:
    """``addresses``: host -> address, as an operator moves the mesh to other machines."""
    config = yaml.safe_load(Path(path).read_text())
    workdir = Path(workdir)
    config["global"]["port_offset"] = port_offset
    for host, address in (addresses or {}).items():
        config["hosts"][host]["address"] = address
    config["global"]["log_dir"] = str(workdir / "logs")
    for name, host in config["hosts"].items():
        host.setdefault("env", {})["MESH_STATE_DIR"] = str(workdir / "state" / name)
    return config


def roster_names(config: dict[str, Any]) -> list[str]:
    """The 77 agents of the original roster (the config minus the VRAM pool manager, which
    is infrastructure like the launchers)."""
    return [a["name"] for a in config["agents"] if a.get("service") != "model_manager"]
