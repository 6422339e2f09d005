"""Taking a backup: a consistent copy of every state file, while the mesh runs.

Each SQLite file is copied with SQLite's online backup API, one file at a time: the copy is
one read transaction, and in WAL mode (every store of the mesh) readers never block writers,
so no writer waits on a backup.  The copies go to ``DIR.partial`` and the folder is renamed
to DIR once the manifest is written: a DIR that exists is a whole backup.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from common.backup.manifest import FORMAT, MANIFEST, package_version, sha256_of
from common.launcher.shipping import copy_sqlite
from common.launcher.state_files import StateFile

__all__ = ["take_backup"]

log = logging.getLogger(__name__)


def take_backup(files: list[StateFile], to: str | Path, hosts: list[str],
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy files into the folder to (which must not exist); returns the manifest.
    extra: name -> JSON document stored beside them (the VRAM pool's state)."""
    final = Path(to)
    if final.exists():
        raise FileExistsError(f"{final} exists; a backup goes to a new folder")
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started, entries, longest = time.monotonic(), [], 0.0
    for index, state in enumerate(files):
        name = f"{index:03d}-{state.kind}-{Path(state.path).name}"
        t0 = time.monotonic()
        _copy(state, partial / name)
        longest = max(longest, time.monotonic() - t0)
        entries.append(_entry(state, partial / name))
    for name, document in (extra or {}).items():
        path = partial / f"{name}.json"
        path.write_text(json.dumps(document, indent=1, sort_keys=True))
        entries.append(_entry(StateFile(name, "", name, "", sqlite=False), path))
    manifest = {"format": FORMAT, "agentmesh": package_version(), "created_at": time.time(),
                "hosts": hosts, "keys": any(e["kind"] == "keys" for e in entries),
                "took_s": round(time.monotonic() - started, 4),
                "longest_copy_s": round(longest, 4), "files": entries}
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1))
    partial.rename(final)
    log.info("backup of %d files in %s (%.3f s)", len(entries), final, manifest["took_s"])
    return manifest


def _copy(state: StateFile, target: Path) -> None:
    if not state.sqlite:
        shutil.copyfile(state.path, target)
        return
    copy_sqlite(state.path, target)


def _entry(state: StateFile, path: Path) -> dict[str, Any]:
    return {"kind": state.kind, "host": state.host, "name": state.name, "path": state.path,
            "file": path.name, "bytes": path.stat().st_size, "sha256": sha256_of(path),
            "sqlite": state.sqlite}
