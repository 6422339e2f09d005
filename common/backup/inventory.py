"""What a backup copies: each selected host's state files (common.launcher.state_files), the
migration journal (RUN_DIR/migrations.db), the startup config, and the keys folder only when
asked.  Only files that exist on this machine are listed; paths are relative to the mesh's
folder, and a restore puts each file back at the same relative path.
"""

from __future__ import annotations

from pathlib import Path

from common.config import MeshConfig
from common.launcher.state_files import StateFile, host_state_files

__all__ = ["StateFile", "inventory"]


def inventory(config: MeshConfig, config_path: str | None, hosts: list[str],
              run_dir: str = "run", keys: bool = False, mesh_files: bool = True
              ) -> list[StateFile]:
    """Every state file of hosts that exists now; with mesh_files the journal and the config
    too (and the keys, if asked)."""
    found: list[StateFile] = []
    for host in hosts:
        found.extend(host_state_files(config, host))
    if mesh_files:
        found.append(StateFile("journal", "", "migrations",
                               str(Path(run_dir, "migrations.db"))))
    if mesh_files and config_path:
        found.append(StateFile("config", "", "config", config_path, sqlite=False))
    if keys:
        folder = Path(config.global_.keys_dir)
        found.extend(StateFile("keys", "", p.name, str(p), sqlite=False)
                     for p in sorted(folder.glob("**/*")) if p.is_file())
    return [f for f in found if Path(f.path).is_file()]
