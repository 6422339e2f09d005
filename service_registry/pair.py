"""The link between the two registries of a pair: state beats and the yielding backup's merge.

One DEALER to the peer registry, driven from the registry's loop as a BaseAgent link.  Each
side beats ``registry_peer {name, state, seq}`` every PEER_INTERVAL_S and learns the peer's
state from the reply (or from the peer's own beat at our ROUTER).  Liveness is the one
:class:`Heartbeat`: PEER_LIVENESS intervals of silence expire the peer, and its socket is
replaced so that nothing stale is delivered when it returns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import zmq

from common.base_agent import protocol
from common.base_agent.health import CheckResult, Status
from common.base_agent.heartbeat import Heartbeat
from common.base_agent.protocol import Request
from common.base_agent.registries import ACTION_MERGE, ACTION_PEER, PEER_INTERVAL_S, PEER_LIVENESS
from common.base_agent.sockets import connect, replies

__all__ = ["EXPIRED", "PairLink"]

log = logging.getLogger(__name__)

EXPIRED = "expired"


class PairLink:
    name = "registry_peer"

    def __init__(self, ctx: zmq.Context, endpoint: str, registry_name: str,
                 beat: Callable[[], dict[str, Any]], on_peer_state: Callable[[str], None]) -> None:
        self.endpoint = endpoint
        self.heartbeat = Heartbeat(PEER_INTERVAL_S, PEER_LIVENESS)
        self.peer_state = ""  # not heard yet: not a vote's "expired" until a real silence
        self._name = registry_name
        self._beat = beat
        self._on_peer_state = on_peer_state
        self._ctx = ctx
        self._sock: zmq.Socket | None = None
        self._merges: set[str] = set()  # request ids of merges not yet answered

    @property
    def socket(self) -> zmq.Socket:
        if self._sock is None:
            self._sock = connect(self._ctx, zmq.DEALER, self.endpoint, hwm=100, immediate=True)
        return self._sock

    def up(self) -> bool:
        return self.peer_state not in ("", EXPIRED)

    def tick(self) -> None:
        if self.heartbeat.peer_lost():
            if self.peer_state != EXPIRED:
                log.warning("peer registry %s silent for %.2f s", self.endpoint,
                            self.heartbeat.silence_s())
                self.peer_state = EXPIRED
                self._on_peer_state(EXPIRED)
            self.close()
            self.heartbeat.reset()
        if self.heartbeat.send_due():
            self.heartbeat.sent()
            self._send(ACTION_PEER, self._beat())

    def due_in_s(self) -> float:
        return self.heartbeat.due_in_s()

    def merge(self, payload: dict[str, Any]) -> None:
        """Send our registrations to the peer (we yield to it); answered asynchronously."""
        self._merges.add(self._send(ACTION_MERGE, payload))

    def _send(self, action: str, payload: dict[str, Any]) -> str:
        req = Request(action, payload, source=self._name)
        try:
            self.socket.send_multipart(protocol.encode_request(req), zmq.NOBLOCK)
        except zmq.Again:  # not connected (or not reading): a beat is not worth keeping
            log.debug("peer registry %s not connected; %s not sent", self.endpoint, action)
        return req.id

    def heard(self, state: str) -> None:
        """Any sign of the peer: a reply here or its beat at our ROUTER."""
        self.heartbeat.heard()
        if state and state != self.peer_state:
            self.peer_state = state
            self._on_peer_state(state)

    def on_readable(self) -> None:
        sock = self.socket
        for reply in list(replies(sock, f"peer registry {self.endpoint}")):
            if reply.id in self._merges:
                self._merges.discard(reply.id)
                log.info("peer registry %s merged ours: %s", self.endpoint,
                         reply.result if reply.ok else f"{reply.code}: {reply.message}")
                self.heard("")
            elif reply.ok and isinstance(reply.result, dict):
                self.heard(str(reply.result.get("state", "")))

    def check(self) -> CheckResult:
        if self.up():
            return CheckResult(self.name, Status.PASSING, f"peer {self.peer_state}")
        return CheckResult(self.name, Status.WARNING, f"peer registry {self.endpoint} silent")

    def close(self, graceful: bool = False) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        self._merges.clear()
