"""A backup's ``manifest.json``: what is in it, with sizes, checksums and versions.

    {"format": 1, "agentmesh": "0.1.0", "created_at": wall seconds, "hosts": [...],
     "keys": bool, "took_s": s, "longest_copy_s": s,
     "files": [{"kind", "host", "name", "path", "file", "bytes", "sha256", "sqlite"}]}

``path`` is where the file lives in the mesh's folder, ``file`` its name in the backup.
:func:`verify` checks every claim before a restore touches anything.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["FORMAT", "MANIFEST", "BackupError", "package_version", "sha256_of", "verify"]

FORMAT = 1
MANIFEST = "manifest.json"


class BackupError(Exception):
    """A backup that cannot be restored; the message names the problem."""


def package_version() -> str:
    try:
        return version("agentmesh")
    except PackageNotFoundError:
        return "unknown"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: str | Path) -> dict[str, Any]:
    """The manifest of the backup in folder once every file matches it; BackupError naming
    the first problem otherwise (missing, truncated, altered, wrong version, not SQLite)."""
    folder = Path(folder)
    manifest = _read(folder)
    for entry in manifest["files"]:
        _check(folder, entry)
    return manifest


def _read(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder")
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{path} is missing: not a backup, or an unfinished one") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} is unreadable or not JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise BackupError(f"{path} has no files list")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: backup format {manifest.get('format')!r} is not "
                          f"supported (this agentmesh {package_version()} reads format "
                          f"{FORMAT})")
    return manifest


def _check(folder: Path, entry: dict[str, Any]) -> None:
    name = entry.get("file")
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        raise BackupError(f"manifest names a bad file: {name!r}")
    path = folder / name
    if not path.is_file():
        raise BackupError(f"{name} ({entry.get('kind')} {entry.get('name')}) is missing")
    size = path.stat().st_size
    if size != entry.get("bytes"):
        raise BackupError(f"{name} is {size} bytes, the manifest says {entry.get('bytes')} "
                          f"({'truncated' if size < entry.get('bytes', 0) else 'grown'})")
    if sha256_of(path) != entry.get("sha256"):
        raise BackupError(f"{name}: checksum does not match the manifest (altered)")
    if entry.get("sqlite"):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = db.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{name} is not a SQLite database: {exc}") from None
        finally:
            db.close()
        if result != "ok":
            raise BackupError(f"{name} fails SQLite's integrity check: {result}")
