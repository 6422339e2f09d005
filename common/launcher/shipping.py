"""State shipping: a stateful failover agent's SQLite file, copied to the other host.

The launcher running such an agent (at home, or as a guest after a failover) takes a
consistent copy with SQLite's online backup API every ``failover.ship_every_s`` (a reader: a
WAL writer is never blocked by it) and sends it to the other host's launcher in chunks
(``failover_ship``), which checks the whole file's SHA-256 and renames it into the agent's
state path there.  A failover then starts from a copy no older than ``ship_every_s`` plus one
transfer; ``taken_at`` (wall time of the copy) travels with it.

    failover_ship {name, transfer, offset, total, sha256, taken_at, data: bytes}
        -> {received, complete}
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.config import AgentConfig, MeshConfig

__all__ = ["ACTION_SHIP", "CHUNK_BYTES", "Receiver", "Shipper", "copy_sqlite", "snapshot",
           "state_file"]

log = logging.getLogger(__name__)

ACTION_SHIP = "failover_ship"
CHUNK_BYTES = 512 * 1024  # under the protocol's 1 MiB message limit, with room
SHIP_TIMEOUT_S = 2.0

# (name, target launcher endpoint, state file here) of every agent to ship now
Due = Callable[[], list[tuple[str, str, Path]]]


def state_file(config: MeshConfig, cfg: AgentConfig, base_dir: str) -> Path:
    """cfg's SQLite file on cfg.host: ``settings.db_path``, else ``$MESH_STATE_DIR/NAME.db``
    with the host's and the agent's env (as common.kinds.store opens it)."""
    db_path = cfg.settings.get("db_path")
    if isinstance(db_path, str) and db_path:
        return Path(base_dir, db_path)
    env = {**config.hosts[cfg.host].env, **cfg.env}
    return Path(base_dir, env.get("MESH_STATE_DIR", "state"), f"{cfg.name}.db")


def copy_sqlite(source: str | Path, target: Path, timeout_s: float = 5.0) -> None:
    """A consistent copy of the SQLite database at source into target, by SQLite's online
    backup API: one read transaction, so in WAL mode no writer waits.  The source is opened
    read-only: a missing one is an error, never an empty database made on the spot."""
    uri = Path(source).resolve().as_uri() + "?mode=ro"
    src = sqlite3.connect(uri, uri=True, timeout=timeout_s)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def snapshot(path: Path) -> bytes:
    """A consistent copy of the SQLite database at path, as bytes to ship."""
    with tempfile.TemporaryDirectory(prefix="mesh-ship-") as tmp:
        copy = Path(tmp, "copy.db")
        copy_sqlite(path, copy, timeout_s=1.0)
        return copy.read_bytes()


class Shipper:
    """The shipping thread: every interval, each due agent's copy to its other host."""

    def __init__(self, due: Due, interval_s: float, source: str) -> None:
        self.due = due
        self.interval_s = interval_s
        self.source = source
        self.shipped: dict[str, float] = {}  # name -> taken_at of the last copy delivered
        self._wanted: set[str] = set()  # ship these now (a final copy before giving back)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="state-shipper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def ship_now(self, name: str) -> None:
        with self._lock:
            self._wanted.add(name)
        self._wake.set()

    def _run(self) -> None:
        ctx = zmq.Context()
        client = Client(None, ctx=ctx, source=self.source, breaker_threshold=2**31)
        try:
            while not self._stop.is_set():
                for name, endpoint, path in self.due():
                    self._ship(client, name, endpoint, path)
                self._wake.wait(self.interval_s)
                self._wake.clear()
        finally:
            client.close()
            ctx.destroy(linger=0)

    def _ship(self, client: Client, name: str, endpoint: str, path: Path) -> None:
        if not path.exists():
            return
        taken_at = time.time()
        try:
            data = snapshot(path)
        except sqlite3.Error as exc:
            log.warning("cannot copy %s (%s): %s", name, path, exc)
            return
        transfer, digest = uuid.uuid4().hex, hashlib.sha256(data).hexdigest()
        try:
            for offset in range(0, max(len(data), 1), CHUNK_BYTES):
                client.call_endpoint(endpoint, ACTION_SHIP, {
                    "name": name, "transfer": transfer, "offset": offset, "total": len(data),
                    "sha256": digest, "taken_at": taken_at,
                    "data": data[offset:offset + CHUNK_BYTES]},
                    timeout_s=SHIP_TIMEOUT_S, retries=0)
        except MeshError as exc:
            log.debug("shipping %s to %s failed: %s", name, endpoint, exc)
            return
        with self._lock:
            self.shipped[name] = taken_at
            self._wanted.discard(name)

    def delivered_since(self, name: str, since: float) -> bool:
        """A copy of name taken at or after since (wall time) has been delivered."""
        with self._lock:
            return self.shipped.get(name, 0.0) >= since


class Receiver:
    """The receiving side: chunks into NAME.db.incoming, renamed over the state file once the
    whole copy is in and its SHA-256 matches."""

    def __init__(self) -> None:
        self.received: dict[str, float] = {}  # name -> taken_at of the copy in place
        self._transfers: dict[str, str] = {}  # name -> transfer id being written

    def chunk(self, path: Path, payload: dict[str, Any]) -> dict[str, Any]:
        name, transfer = payload["name"], payload["transfer"]
        offset, total, data = payload["offset"], payload["total"], payload["data"]
        incoming = path.with_name(path.name + ".incoming")
        if offset == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            incoming.write_bytes(b"")
            self._transfers[name] = transfer
        elif self._transfers.get(name) != transfer:
            raise MeshError(f"{name}: chunk at {offset} of an unknown transfer", "bad_request")
        with incoming.open("r+b") as out:
            out.seek(offset)
            out.write(data)
        if offset + len(data) < total:
            return {"received": offset + len(data), "complete": False}
        body = incoming.read_bytes()
        if len(body) != total or hashlib.sha256(body).hexdigest() != payload["sha256"]:
            incoming.unlink(missing_ok=True)
            raise MeshError(f"{name}: copy does not match its checksum; dropped", "bad_request")
        for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        os.replace(incoming, path)
        self._transfers.pop(name, None)
        self.received[name] = float(payload["taken_at"])
        return {"received": total, "complete": True}
