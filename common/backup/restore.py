"""Restoring a backup: verify everything first, then put each file back where it lived.

Nothing is written until the whole backup checks out (common.backup.manifest.verify); a
restore into a folder whose mesh is running is refused by the caller (the CLI asks the
launchers).  Each SQLite file's stale ``-wal``/``-shm`` are removed before it is put back:
a WAL left from the wiped state must not be replayed over the restored file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from common.backup.manifest import verify

__all__ = ["restore"]

SKIPPED_KINDS = ("vram",)  # informational: the pool is rebuilt by the agents' leases


def restore(folder: str | Path, into: str | Path = ".", config_to: str | None = None
            ) -> list[dict[str, Any]]:
    """Restore the backup in folder under the mesh folder into; returns the entries put
    back.  config_to: where the config goes (its recorded path by default)."""
    manifest = verify(folder)
    restored = []
    for entry in manifest["files"]:
        if entry["kind"] in SKIPPED_KINDS:
            continue
        relative = config_to if entry["kind"] == "config" and config_to else entry["path"]
        target = Path(into, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in (target.with_name(target.name + "-wal"),
                      target.with_name(target.name + "-shm")):
            stale.unlink(missing_ok=True)
        partial = target.with_name(target.name + ".restoring")
        shutil.copyfile(Path(folder, entry["file"]), partial)
        partial.replace(target)
        restored.append(entry)
    return restored
