"""A lease-based leader election on etcd, one key per role.

The leader is whoever holds ``{prefix}{role}``, created in a transaction only while the key does
not exist and bound to the candidate's lease; etcd deletes it when the lease runs out.  A
candidate's thread keeps its lease alive every ``ttl_s / 4`` and, while it does not lead,
tries the claim every ``ttl_s / 8``.

Exactly one leader, also across a partition: a leader counts itself leader only until
``ttl_s - STEP_DOWN_MARGIN_S`` after the last keep-alive etcd *acknowledged* (timed from when
it was sent), so it has stepped down before the lease can expire on the majority side and
another candidate can take the key.  The minority side of a partition gets no acknowledgement
(its member has no quorum), so it holds no leadership within ``ttl_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from common.base_agent.errors import MeshError
from common.election.settings import ElectionSettings
from common.etcd import EtcdClient
from common.etcd.client import KeyValue, b64, compare, put_op

__all__ = ["PREFIX", "STEP_DOWN_MARGIN_S", "Election", "current_leader"]

log = logging.getLogger(__name__)

PREFIX = "/agentmesh/leader/"
STEP_DOWN_MARGIN_S = 0.25


def current_leader(client: EtcdClient, role: str, prefix: str = PREFIX) -> str | None:
    """Who holds role now (as etcd says), or None."""
    kv = client.get(prefix + role)
    return kv.value if kv is not None else None


class Election:
    def __init__(self, endpoints: Sequence[str], role: str, candidate: str, *, ttl_s: int = 2,
                 timeout_s: float = 1.0, prefix: str = PREFIX,
                 on_change: Callable[[bool], None] | None = None) -> None:
        self.role = role
        self.candidate = candidate
        self.ttl_s = ttl_s
        self.key = prefix + role
        self.holder: str | None = None  # the leader as last read (ourselves while leading)
        self.changes = 0
        self.last_change_at = 0.0  # monotonic
        self._client = EtcdClient(endpoints, timeout_s=min(timeout_s, ttl_s / 4))
        self._on_change = on_change
        self._lease = 0
        self._until = 0.0  # monotonic: we lead until then unless a keep-alive extends it
        self._leading = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading and time.monotonic() < self._until

    @classmethod
    def from_settings(cls, settings: ElectionSettings, role: str, candidate: str,
                      on_change: Callable[[bool], None] | None = None) -> Election:
        return cls(settings.endpoints, role, candidate, ttl_s=settings.ttl_s,
                   timeout_s=settings.timeout_s, on_change=on_change)

    def start(self) -> Election:
        self._thread = threading.Thread(target=self._run, name=f"election {self.role}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop campaigning; a leader resigns (revokes its lease) so the next one takes
        over at once instead of after the lease runs out."""
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
        sent = time.monotonic()
        if self._lease and self._client.keepalive(self._lease) > 0:
            if self._leading:
                self._until = sent + self.ttl_s - STEP_DOWN_MARGIN_S
                return
        elif self._lease:
            log.warning("election %s: lease of %s expired", self.role, self.candidate)
            self._lease = 0
        if not self._lease:
            sent = time.monotonic()
            self._lease = self._client.grant(self.ttl_s)
        self._claim(sent)

    def _claim(self, sent: float) -> None:
        won, reply = self._client.txn(
            [compare(self.key, "CREATE", "EQUAL", 0)],
            [put_op(self.key, self.candidate, self._lease)],
            [{"request_range": {"key": b64(self.key)}}])
        if won:
            self.holder = self.candidate
            self._until = sent + self.ttl_s - STEP_DOWN_MARGIN_S
            return
        kvs = reply["responses"][0]["response_range"].get("kvs", [])
        held = KeyValue.from_json(kvs[0]) if kvs else None
        self.holder = held.value if held else None
        if held is not None and held.lease == self._lease:  # ours still (a blip): lead on
            self._until = sent + self.ttl_s - STEP_DOWN_MARGIN_S

    def _set(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        self.changes += 1
        self.last_change_at = time.monotonic()
        if leading:
            self.holder = self.candidate
        log.warning("election %s: %s %s", self.role, self.candidate,
                    "leads" if leading else "does not lead")
        if self._on_change is not None:
            self._on_change(leading)
