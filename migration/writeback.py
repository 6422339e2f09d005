"""What a migration promoted, written back to the config file it came from; undone on rollback.

A promotion's write-back is one journaled step, ``config`` (stage -1), of the migration: its
``intent`` row names the file, the backup the file's current bytes are kept in
(``FILE.mID.before.STAMP.bak``) and the sha256 of both versions, and is committed before the
file is touched.  The backup is written, then the file (temp file in the same directory,
fsync, ``os.replace``, fsync of the directory), then the ``done`` row.  Resume after a crash
between the two compares the file's hash with the intent: the new hash means it was written
(journal it), the old one means it was not (write it), any other means someone edited the
file meanwhile (refuse: `ConfigEdited`).

Rolling back a finished migration writes the backup back (step ``config_restore`` of the
reversing migration), first checking that the file still has the promoted hash: an operator's
edit since is refused, naming both hashes, unless forced; the replaced file is kept beside it
(``FILE.mID.promoted.STAMP.bak``) either way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from common.base_agent.errors import MeshError
from common.config.files import sha256_of, write_atomic
from migration.journal import Journal
from migration.yaml_edit import EditError, agent_entries, load_document, promoted_text

__all__ = ["CONFIG_STAGE", "ConfigEdited", "FileWrite", "PROMOTE_STEP", "RESTORE_STEP",
           "WritebackError", "Writeback", "check_editable", "share"]

CONFIG_STAGE = -1  # the journal's stage number for the config steps (after every stage)
PROMOTE_STEP = "config"
RESTORE_STEP = "config_restore"


class WritebackError(RuntimeError):
    """The config file cannot be written back (unreadable, not version 1, backup gone)."""


class ConfigEdited(WritebackError):
    """The file's hash is not the one the journal expects: someone edited it."""

    def __init__(self, path: str, expected: str, found: str, hint: str) -> None:
        super().__init__(f"{path} was changed since the migration wrote it:\n"
                         f"  sha256 the migration wrote:\n    {expected}\n"
                         f"  sha256 of the file now:\n    {found}\n{hint}")
        self.expected, self.found = expected, found


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise WritebackError(f"cannot read {path}: {exc.strerror}") from None


def check_editable(path: str, agents: list[str]) -> None:
    """Before a migration starts: the file is a version-1 config naming every agent, and its
    directory takes new files (the temp file and the backup)."""
    try:
        entries = agent_entries(load_document(_read(path).decode())[1])
    except (EditError, UnicodeDecodeError) as exc:
        raise WritebackError(f"{path}: {exc}; the promotion could not be written back") from None
    missing = [a for a in agents if a not in entries]
    if missing:
        raise WritebackError(f"{path}: no agents entry for {', '.join(missing)}")
    if not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        raise WritebackError(f"{path}: its directory is not writable (backup, temp file)")


@dataclass(frozen=True)
class FileWrite:
    """One journaled write of the config: what it becomes, where the old bytes are kept."""

    path: str
    backup: str
    sha256_before: str
    sha256_after: str
    written: bool = False  # already on disk (found after a crash)

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "written"}


def _backup_name(path: str, mid: int, what: str) -> str:
    return f"{path}.m{mid}.{what}.{time.strftime('%Y%m%dT%H%M%S')}.bak"


class Writeback:
    """The journaled config steps of the executor; `fault(step, phase)` is its test hook."""

    def __init__(self, journal: Journal, fault: Callable[[str, str], None]) -> None:
        self.journal = journal
        self.fault = fault

    def promote(self, mid: int, path: str, definitions: list[tuple[dict[str, Any],
                                                                   dict[str, Any]]]) -> None:
        """Write the promoted (old, new) definitions into path, journaled on migration mid."""
        def build(intent: dict[str, Any] | None) -> tuple[FileWrite, bytes, bytes]:
            before = _read(path)
            try:
                after = promoted_text(before.decode(), definitions).encode()
            except (EditError, UnicodeDecodeError) as exc:
                raise WritebackError(f"{path}: {exc}") from None
            backup = intent["backup"] if intent else _backup_name(path, mid, "before")
            return FileWrite(path, backup, sha256_of(before), sha256_of(after)), before, after

        if definitions:
            self._step(mid, mid, PROMOTE_STEP, build)

    def restore_plan(self, parent: int, force: bool,
                     intent: dict[str, Any] | None = None) -> tuple[FileWrite, bytes, bytes] | None:
        """Writing the parent's previous file back: None when the parent wrote none;
        ConfigEdited when the file is not as the parent left it (unless force)."""
        promoted = self.journal.get(parent)["result"].get(PROMOTE_STEP)
        if promoted is None:
            return None
        path = promoted["path"]
        current, previous = _read(path), _read(promoted["backup"])
        found = sha256_of(current)
        if found != promoted["sha256_after"] and not force and intent is None:
            raise ConfigEdited(path, promoted["sha256_after"], found,
                               f"rolling back migration {parent} would lose that edit; nothing "
                               f"was changed.  `mesh migrate rollback {parent} --force` writes "
                               f"the previous file ({promoted['backup']}) back anyway and keeps "
                               "this one beside it.")
        backup = intent["backup"] if intent else _backup_name(path, parent, "promoted")
        return FileWrite(path, backup, found, sha256_of(previous)), current, previous

    def restore(self, mid: int, parent: int) -> None:
        """Put the parent's previous file back, journaled on the reversing migration mid.
        `mesh migrate rollback` checked the file's hash before it started; what this replaces
        is kept beside it whatever it is."""
        self._step(mid, parent, RESTORE_STEP,
                   lambda intent: self.restore_plan(parent, True, intent))

    # -- the journaled step ------------------------------------------------------------------
    def _intent(self, mid: int, step: str) -> dict[str, Any] | None:
        rows = [r for r in self.journal.steps(mid) if r["stage"] == CONFIG_STAGE
                and r["step"] == step and r["phase"] == "intent"]
        return rows[-1]["data"] if rows else None

    def _step(self, mid: int, owner: int, step: str, build: Callable[..., Any]) -> None:
        if (CONFIG_STAGE, "*", step) in self.journal.done(mid):
            return
        intent = self._intent(mid, step)
        planned = build(intent)
        if planned is None:
            return
        write, before, after = planned
        if intent is not None:
            write = _resumed(write, intent)
        else:
            self.journal.record(mid, CONFIG_STAGE, "*", step, "intent", write.record())
        self.fault(step, "before")
        if not write.written:
            write_atomic(write.backup, before)
            write_atomic(write.path, after)
        self.fault(step, "after")
        self.journal.record(mid, CONFIG_STAGE, "*", step, "done", write.record())
        for target in {mid, owner}:
            self.journal.set_result(target, **{step: write.record()})


def _resumed(write: FileWrite, intent: dict[str, Any]) -> FileWrite:
    """After a crash between intent and done: written already, still to write, or edited."""
    if write.sha256_before == intent["sha256_after"]:
        return FileWrite(**intent, written=True)
    if write.sha256_before == intent["sha256_before"]:
        return write
    raise ConfigEdited(write.path, intent["sha256_after"], write.sha256_before,
                       f"it was edited while this write-back was interrupted; compare it with "
                       f"{intent['backup']} and resolve by hand")


Ask = Callable[[str, str, dict[str, Any]], Any]  # (host, action, payload) -> reply


def share(ask: Ask, hosts: list[str], write: dict[str, Any], tag: str) -> dict[str, str]:
    """The file just written (a `FileWrite` record) into every host's own copy of the config,
    through its launcher's ``config_write``: each machine starts from its own file.  Returns
    what each host said: in_sync, written (old copy kept as ...), differs, or not reached."""
    try:
        text = _read(write["path"]).decode()
    except (WritebackError, UnicodeDecodeError) as exc:
        return dict.fromkeys(hosts, f"not shared: {exc}")
    if sha256_of(text.encode()) != write["sha256_after"]:
        return dict.fromkeys(hosts, "not shared: the file changed since it was written")
    payload = {"text": text, "sha256_before": write["sha256_before"],
               "sha256_after": write["sha256_after"], "tag": tag}
    out = {}
    for host in hosts:
        try:
            reply = ask(host, "config_write", payload)
        except MeshError as exc:
            out[host] = f"not reached ({exc}): copy {write['path']} there by hand"
            continue
        result = reply["result"]
        out[host] = (f"written (its previous copy kept as {reply['backup']})"
                     if result == "written" else
                     f"differs from the file the migration changed: not written ({reply['path']})"
                     if result == "differs" else result)
    return out
