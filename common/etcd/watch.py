"""Keep a local copy of one etcd prefix: load it, then follow its watch stream.

A :class:`Watcher` thread reads the prefix at revision R (``on_reset``), then streams the
gateway's ``/v3/watch`` from R + 1 on the same member (``on_events`` per batch).  Every
``check_s`` it makes a linearizable read on that member: a member that died or lost its quorum
(the minority side of a partition) fails it, the stream is cut and the watcher starts over on
whichever member answers.  While none does, ``on_state(False)`` says etcd is unavailable; the
copy the caller holds stays as it was.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from common.base_agent.errors import MeshError
from common.etcd.client import EtcdClient, KeyValue, b64, prefix_end

__all__ = ["WatchEvent", "Watcher"]

log = logging.getLogger(__name__)

CHECK_S = 0.5
RETRY_S = 0.2


@dataclass(frozen=True)
class WatchEvent:
    type: str  # "PUT" or "DELETE"
    kv: KeyValue


class Watcher:
    def __init__(self, client: EtcdClient, prefix: str,
                 on_reset: Callable[[int, list[KeyValue]], None],
                 on_events: Callable[[list[WatchEvent]], None],
                 on_state: Callable[[bool], None] | None = None,
                 check_s: float = CHECK_S) -> None:
        self.prefix = prefix
        self.available = False
        self.resets = 0
        self._client = client
        self._on_reset, self._on_events, self._on_state = on_reset, on_events, on_state
        self._check_s = check_s
        self._stop = threading.Event()
        self._up = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: http.client.HTTPConnection | None = None

    def start(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, name=f"etcd-watch {self.prefix}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._cut()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def wait_available(self, timeout_s: float) -> bool:
        """Block until the prefix is loaded and followed (or timeout_s passes)."""
        return self._up.wait(timeout_s)

    def _set_available(self, up: bool) -> None:
        self._up.set() if up else self._up.clear()
        if up != self.available:
            self.available = up
            log.warning("etcd %s", "available" if up else "unavailable")
            if self._on_state is not None:
                self._on_state(up)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                revision, kvs = self._client.get_prefix(self.prefix)
            except MeshError as exc:
                log.debug("etcd load failed: %s", exc)
                self._set_available(False)
                self._stop.wait(RETRY_S)
                continue
            self.resets += 1
            self._on_reset(revision, kvs)
            self._set_available(True)
            self._follow(self._client.endpoints[self._client.current], revision + 1)
        self._client.close()

    def _follow(self, endpoint: str, start_revision: int) -> None:
        """Stream events until the member fails its check, the stream ends or stop()."""
        reader = threading.Thread(target=self._read, args=(endpoint, start_revision),
                                  name=f"etcd-stream {self.prefix}", daemon=True)
        reader.start()
        probe = EtcdClient([endpoint], timeout_s=max(self._check_s, 0.5))
        try:
            while reader.is_alive() and not self._stop.wait(self._check_s):
                if not probe.healthy():
                    log.warning("etcd member %s failed its check; watching elsewhere", endpoint)
                    break
        finally:
            probe.close()
            self._cut()
            reader.join(2.0)

    def _cut(self) -> None:
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _read(self, endpoint: str, start_revision: int) -> None:
        url = urlsplit(endpoint)
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 2379, timeout=2.0)
        self._conn = conn
        body = {"create_request": {"key": b64(self.prefix), "range_end": prefix_end(self.prefix),
                                   "start_revision": start_revision}}
        try:
            conn.request("POST", "/v3/watch", json.dumps(body))
            response = conn.getresponse()
            conn.sock.settimeout(None)  # the checker cuts a dead stream
            while not self._stop.is_set():
                line = response.readline()
                if not line:
                    return
                if not self._deliver(json.loads(line).get("result", {})):
                    return
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if not self._stop.is_set():
                log.info("etcd watch on %s ended: %s", endpoint, exc)
        finally:
            self._conn = None
            conn.close()

    def _deliver(self, result: dict[str, Any]) -> bool:
        """Hand one watch response over; False when the watch was cancelled (compaction)."""
        if result.get("canceled") or result.get("compact_revision"):
            log.warning("etcd watch cancelled (%s); reloading", result.get("cancel_reason", ""))
            return False
        events = [WatchEvent(e.get("type", "PUT"), KeyValue.from_json(e["kv"]))
                  for e in result.get("events", [])]
        if events:
            self._on_events(events)
        return True
