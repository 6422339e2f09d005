"""What state a mesh keeps, and where: each host's files, from the config and the host plan.

* ``registry``: the registry agents' SQLite files (the derived ``db_path``);
* ``hub``: each hub's incident history and SLO store (derived ``events_db``, ``slos.db_path``);
* ``store``: every other agent's SQLite file where it exists (``settings.db_path``, else
  ``$MESH_STATE_DIR/NAME.db``: the store agents, common.launcher.shipping.state_file);
* ``journal``: the migration journal (RUN_DIR/migrations.db);
* ``config``: the startup config itself; ``keys``: the keys folder, only when asked.

Paths are relative to the folder the mesh runs in (where ``mesh up`` ran), as the launcher
sees them; a restore puts each file back at the same relative path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.config import MeshConfig
from common.launcher.plan import HostPlan
from common.launcher.shipping import state_file

__all__ = ["StateFile", "inventory"]


@dataclass(frozen=True)
class StateFile:
    kind: str  # registry | hub | store | journal | config | keys
    host: str  # the host it belongs to ("" for the mesh's own: journal, config, keys)
    name: str  # the agent, or the file's role
    path: str  # relative to the mesh's folder
    sqlite: bool = True


def inventory(config: MeshConfig, config_path: str, hosts: list[str], run_dir: str = "run",
              keys: bool = False) -> list[StateFile]:
    """Every state file of hosts that exists now, the journal, the config (and the keys)."""
    found: list[StateFile] = []
    for host in hosts:
        found.extend(_host_files(config, host))
    found.append(StateFile("journal", "", "migrations", str(Path(run_dir, "migrations.db"))))
    found.append(StateFile("config", "", "config", config_path, sqlite=False))
    if keys:
        folder = Path(config.global_.keys_dir)
        found.extend(StateFile("keys", "", p.name, str(p), sqlite=False)
                     for p in sorted(folder.glob("**/*")) if p.is_file())
    return [f for f in found if Path(f.path).is_file()]


def _host_files(config: MeshConfig, host: str) -> list[StateFile]:
    plan = HostPlan(config, host)
    files = []
    for agent in plan.agents.values():
        if agent.service in ("registry", "hub"):
            derived = plan.derived(agent)
            paths = [derived.get("db_path"), derived.get("events_db"),
                     (derived.get("slos") or {}).get("db_path")]
            files += [StateFile(agent.service, host, agent.name, p) for p in paths if p]
        elif agent.service is None and not agent.script_path:
            files.append(StateFile("store", host, agent.name,
                                   str(state_file(config, agent, "."))))
    return files
