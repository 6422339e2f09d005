"""``mesh backup [--to DIR]`` and ``mesh restore DIR``: the mesh's state, saved and put back.

``backup`` copies, while the mesh runs, every state file of the selected hosts that is on this
machine (registry, hub history and SLO store, store agents, the migration journal, the
config; the keys only with ``--with-keys``) with SQLite's online backup API, plus the VRAM
pool's state as JSON, into a new folder with ``manifest.json`` (sizes, SHA-256, versions).
On two machines run it on each (``--host main_pc`` / ``--host pc2``).

``restore DIR`` checks the whole backup first: a missing, truncated or altered file, a
manifest of another format, a file that is not a sound SQLite database are each refused with
exit 2 and a message naming the problem, and nothing is written.  It also refuses while a
launcher of the mesh answers (stop it with ``mesh down`` first).  See docs/DR.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from common.backup import BackupError, inventory, restore, take_backup, verify
from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.cli.hosts import CONFIG_OPTION, HOST_OPTION, RUN_DIR_OPTION, load, selected_hosts
from common.cli.output import fail, print_json
from common.launcher import HostPlan

__all__ = ["backup", "restore_cmd"]

PROBE_TIMEOUT_S = 0.5
KEYS_WARNING = ("the backup holds the mesh's secret keys: keep it as safe as the keys "
                "folder itself (anyone with it can join the mesh)")


def backup(to: str | None = typer.Option(None, "--to", help="A new folder for the backup "
                                         "(default backups/UTC-TIMESTAMP)."),
           host: str = HOST_OPTION, config: str = CONFIG_OPTION, run_dir: str = RUN_DIR_OPTION,
           with_keys: bool = typer.Option(False, "--with-keys", help="Also the keys folder "
                                          "(secret keys: the backup must then be kept safe)."),
           host_only: bool = typer.Option(False, "--host-only", help="Only the hosts' own "
                                          "files: not the journal and the config."),
           as_json: bool = typer.Option(False, "--json", help="Print the manifest.")) -> None:
    """Back up the running mesh's state to a new folder (exit 2 if it cannot be written)."""
    cfg = load(config)
    hosts = selected_hosts(config, host)
    folder = Path(to or Path("backups", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())))
    if with_keys:
        typer.echo(f"warning: {KEYS_WARNING}", err=True)
    files = inventory(cfg, config, hosts, run_dir, keys=with_keys, mesh_files=not host_only)
    try:
        manifest = take_backup(files, folder, hosts, {"vram": _vram(cfg, hosts)})
    except (OSError, ValueError) as exc:
        raise fail(f"cannot write the backup to {folder}: {exc}", 2) from None
    if as_json:
        print_json({"folder": str(folder), **manifest})
        return
    kinds = sorted({e["kind"] for e in manifest["files"]})
    typer.echo(f"backup {folder}: {len(manifest['files'])} files ({', '.join(kinds)}) in "
               f"{manifest['took_s']:.3f} s, longest copy {manifest['longest_copy_s']:.3f} s")


def restore_cmd(folder: str = typer.Argument(..., help="The backup folder."),
                config: str = CONFIG_OPTION,
                as_json: bool = typer.Option(False, "--json", help="Print what was restored."),
                ) -> None:
    """Restore a backup into this folder, once it checks out and the mesh is down (exit 2:
    refused, with the reason; nothing is touched then)."""
    try:
        manifest = verify(folder)
    except BackupError as exc:
        raise fail(f"backup {folder} refused: {exc}", 2) from None
    running = _running(folder, manifest, config)
    if running:
        raise fail(f"the mesh is running ({', '.join(running)} answering): stop it with "
                   "`mesh down` before a restore", 2)
    restored = restore(folder, ".", config_to=config)
    if as_json:
        print_json({"folder": folder, "restored": restored})
        return
    typer.echo(f"restored {len(restored)} files from {folder}; start the mesh with `mesh up`")


def _running(folder: str, manifest: dict[str, Any], config: str) -> list[str]:
    """The mesh's launchers that answer, by the backup's own config (or the one here)."""
    entry = next((e for e in manifest["files"] if e["kind"] == "config"), None)
    source = Path(folder, entry["file"]) if entry else Path(config)
    if not source.is_file():
        return []
    cfg = load(str(source))
    plan = HostPlan(cfg, next(iter(cfg.hosts)))
    answering = []
    with Client(source="mesh-restore") as client:
        for name in cfg.hosts:
            try:
                client.call_endpoint(plan.launcher_endpoint(name), "health",
                                     timeout_s=PROBE_TIMEOUT_S, retries=0)
                answering.append(name)
            except MeshError:
                continue
    return answering


def _vram(cfg: Any, hosts: list[str]) -> dict[str, Any]:
    """The VRAM pool's state now (leases, GPUs), or why not: kept for the record."""
    managers = cfg.providers("model_manager")
    if not managers or managers[0].host not in hosts:
        return {"skipped": "no model manager on the hosts backed up"}
    plan = HostPlan(cfg, managers[0].host)
    with Client(source="mesh-backup") as client:
        try:
            return client.call_endpoint(plan.endpoint(managers[0]), "status",
                                        timeout_s=PROBE_TIMEOUT_S, retries=0)
        except MeshError as exc:
            return {"unavailable": str(exc)}
