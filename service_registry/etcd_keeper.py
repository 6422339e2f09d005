"""Lease keep-alives off the registry agent's loop.

A heartbeat to the etcd registry agent is answered at once from what the agent knows (the
instance is in its copy, its lease was not found expired); the keep-alive itself goes to etcd
from this keeper's thread, once per round for every lease whose instance beat since the last
round.  A slow or partitioned etcd then delays keep-alives, never the agent's lookups.
"""

from __future__ import annotations

import logging
import threading

from common.base_agent.errors import MeshError
from common.etcd import EtcdClient

__all__ = ["ROUND_S", "LeaseKeeper"]

log = logging.getLogger(__name__)

ROUND_S = 0.25  # well inside the shortest lease (ceil(expiry_s(0.2 s)) = 1 s)
MAX_EXPIRED = 4096


class LeaseKeeper:
    def __init__(self, client: EtcdClient, round_s: float = ROUND_S) -> None:
        self.expired: set[int] = set()  # leases etcd no longer knows
        self.sent_total = 0
        self._client = client
        self._round_s = round_s
        self._due: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self, lease: int) -> None:
        with self._lock:
            self._due.add(lease)

    def start(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(self._round_s):
            with self._lock:
                due, self._due = self._due, set()
            for lease in due:
                try:
                    ttl = self._client.keepalive(lease)
                except MeshError as exc:  # unavailable: the watcher says so; beats go on
                    log.debug("keep-alive of %d: %s", lease, exc)
                    with self._lock:
                        self._due |= due  # try these again next round
                    break
                self.sent_total += 1
                if ttl <= 0:
                    if len(self.expired) >= MAX_EXPIRED:  # only needed until the watch says
                        self.expired.clear()
                    self.expired.add(lease)
