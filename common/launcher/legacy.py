"""A legacy script's own world, from its config entry: interpreter, working directory, argv.

Paths in the entry (``script_path``, ``python``, ``cwd``) are relative to the launcher's base
folder; ``python`` is an interpreter or a virtual environment's folder (its ``bin/python``
runs).  Without ``python`` the script runs under the mesh's interpreter, still without the
mesh's ``PYTHONPATH`` (common.spawn.child.script_environment).  The script's working
directory is its ``cwd``, else the base folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common.config import AgentConfig

__all__ = ["interpreter", "missing_paths", "script_fields"]


def interpreter(base_dir: str, agent: AgentConfig) -> str:
    """The absolute path of agent's interpreter; "" for the mesh's own."""
    if agent.python is None:
        return ""
    path = Path(base_dir, agent.python).absolute()
    return str(path / "bin" / "python" if path.is_dir() else path)


def script_fields(base_dir: str, agent: AgentConfig, args: list[str]) -> dict[str, Any]:
    """The AgentSpec fields of a script_path agent (args already expanded)."""
    cwd = Path(base_dir, agent.cwd) if agent.cwd else Path(base_dir)
    return {"script_path": str(Path(base_dir, agent.script_path or "").absolute()),
            "python": interpreter(base_dir, agent), "args": tuple(args),
            "cwd": str(cwd.absolute())}


def missing_paths(base_dir: str, agents: list[AgentConfig]) -> list[str]:
    """Each script, interpreter or working directory of agents that is not there, named by
    its field: a launcher would only find out when the process fails to start."""
    problems = []
    for agent in agents:
        if agent.script_path is None:
            continue
        script = Path(base_dir, agent.script_path)
        if not script.is_file():
            problems.append(f"agents.{agent.name}.script_path: no file {script}")
        python = interpreter(base_dir, agent)
        if python and not os.access(python, os.X_OK):
            problems.append(f"agents.{agent.name}.python: {python} is not an executable "
                            "interpreter (give one, or a virtual environment's folder)")
        if agent.cwd and not Path(base_dir, agent.cwd).is_dir():
            problems.append(f"agents.{agent.name}.cwd: no folder {Path(base_dir, agent.cwd)}")
    return problems
