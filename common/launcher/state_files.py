"""The state files one host keeps, from the config and its host plan (what a backup copies).

* ``registry``: the registry agents' SQLite files (the derived ``db_path``);
* ``hub``: each hub's incident history and SLO store (derived ``events_db``, ``slos.db_path``);
* ``store``: every other module agent's SQLite file where it exists (``settings.db_path``,
  else ``$MESH_STATE_DIR/NAME.db``: common.launcher.shipping.state_file).

Paths are relative to the folder the mesh runs in (where ``mesh up`` ran).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.config import MeshConfig
from common.launcher.plan import HostPlan
from common.launcher.shipping import state_file

__all__ = ["StateFile", "host_state_files"]


@dataclass(frozen=True)
class StateFile:
    kind: str  # registry | hub | store | journal | config | keys
    host: str  # the host it belongs to ("" for the mesh's own: journal, config, keys)
    name: str  # the agent, or the file's role
    path: str  # relative to the mesh's folder
    sqlite: bool = True


def host_state_files(config: MeshConfig, host: str) -> list[StateFile]:
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
