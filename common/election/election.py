"""A leader election on etcd, one key per role, with liveness the followers can see.

The leader holds ``{prefix}{role}``: created in a transaction only while the key does not
exist, bound to the leader's lease (so etcd removes it at last when nobody takes over), and
rewritten by the leader every ``ttl_s / 4`` in a transaction that holds only while the key is
still on its lease.  Each rewrite moves the key's ``mod_revision``: a follower that sees the
same revision for ``ttl_s`` (timed from when it first read it) takes the key over in a
transaction guarded by that revision.  Failover therefore takes about ``ttl_s`` plus the time
etcd needs to commit again (a raft election when the dead host held etcd's leader), and does
not wait for etcd's lease expiry, which a raft leader change renews.

Exactly one leader, also across a partition: a leader counts itself leader only until
``ttl_s - STEP_DOWN_MARGIN_S`` after sending its last *acknowledged* rewrite.  That rewrite
committed before any follower could read it, so a follower waiting ``ttl_s`` from its read
takes over only after the old leader stepped down.  The minority side of a partition gets no
acknowledgement (its member has no quorum), so it holds no leadership after ``ttl_s``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

from common.base_agent.errors import MeshError
from common.election.settings import ElectionSettings
from common.etcd import EtcdClient
from common.etcd.client import compare, put_op

__all__ = ["PREFIX", "STEP_DOWN_MARGIN_S", "Election", "current_leader"]

log = logging.getLogger(__name__)

PREFIX = "/agentmesh/leader/"
STEP_DOWN_MARGIN_S = 0.25
LEASE_SLACK_S = 2  # the key's lease outlives ttl_s by this: cleanup when nobody takes over
LEASE_KEEP_S = 1.0  # the lease's keep-alive period (its TTL is at least 3 s)


def current_leader(client: EtcdClient, role: str, prefix: str = PREFIX) -> str | None:
    """Who holds role now (as etcd says), or None."""
    kv = client.get(prefix + role)
    return kv.value if kv is not None else None


class Election:
    def __init__(self, endpoints: Sequence[str], role: str, candidate: str, *,
                 ttl_s: float = 1.0, timeout_s: float = 1.0, prefix: str = PREFIX,
                 on_change: Callable[[bool], None] | None = None) -> None:
        self.role = role
        self.candidate = candidate
        self.ttl_s = ttl_s
        self.key = prefix + role
        self.holder: str | None = None  # the leader as last read (ourselves while leading)
        self.took_over_from: str | None = None  # the leader we saw before we won, if any
        self.changes = 0
        self._client = EtcdClient(endpoints, timeout_s=timeout_s)  # a slow ack is still safe
        self._on_change = on_change
        self._lease = 0
        self._until = 0.0  # monotonic: we lead until then unless a rewrite extends it
        self._leading = False
        self._seen = (0, 0.0)  # the holder's mod_revision and when we first read it
        self._kept_at = 0.0  # when the lease was last kept alive
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: ElectionSettings, role: str, candidate: str,
                      on_change: Callable[[bool], None] | None = None) -> Election:
        return cls(settings.endpoints, role, candidate, ttl_s=settings.ttl_s,
                   timeout_s=settings.timeout_s, on_change=on_change)

    @property
    def is_leader(self) -> bool:
        return self._leading and time.monotonic() < self._until

    def start(self) -> Election:
        self._thread = threading.Thread(target=self._run, name=f"election {self.role}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop campaigning; a leader resigns (revokes its lease, deleting the key) so the
        next one takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._lease:
            self._client.revoke(self._lease)
        self._set(False)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._turn()
            except MeshError as exc:
                log.debug("election %s: %s", self.role, exc)
            self._set(time.monotonic() < self._until)
            self._stop.wait(self.ttl_s / 4 if self._leading else self.ttl_s / 8)

    def _turn(self) -> None:
        now = time.monotonic()
        if self._lease and now >= self._kept_at + LEASE_KEEP_S:
            if self._client.keepalive(self._lease) <= 0:
                log.warning("election %s: lease of %s expired", self.role, self.candidate)
                self._lease = 0
            self._kept_at = now
        if not self._lease:
            self._lease = self._client.grant(math.ceil(self.ttl_s) + LEASE_SLACK_S)
            self._kept_at = now
        sent = time.monotonic()
        value = put_op(self.key, self.candidate, self._lease)
        if self._leading or self.holder == self.candidate:  # rewrite while still ours
            if self._client.txn([compare(self.key, "LEASE", "EQUAL", self._lease)], [value])[0]:
                self._until = sent + self.ttl_s - STEP_DOWN_MARGIN_S
                return
        held = self._client.get(self.key)
        if held is None:
            guard = compare(self.key, "CREATE", "EQUAL", 0)
        elif held.lease == self._lease:
            guard = compare(self.key, "LEASE", "EQUAL", self._lease)
        else:
            self.holder = held.value
            if held.mod_revision != self._seen[0]:
                self._seen = (held.mod_revision, time.monotonic())
                return
            if time.monotonic() - self._seen[1] < self.ttl_s:
                return
            log.warning("election %s: %s silent for %.1f s; %s takes over", self.role,
                        held.value, time.monotonic() - self._seen[1], self.candidate)
            guard = compare(self.key, "MOD", "EQUAL", held.mod_revision)
        sent = time.monotonic()
        if self._client.txn([guard], [value])[0]:
            if self.holder not in (None, self.candidate):
                self.took_over_from = self.holder
            self.holder = self.candidate
            self._until = sent + self.ttl_s - STEP_DOWN_MARGIN_S

    def _set(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        self.changes += 1
        if leading:
            self.holder = self.candidate
        log.warning("election %s: %s %s", self.role, self.candidate,
                    "leads" if leading else "does not lead")
        if self._on_change is not None:
            self._on_change(leading)
