"""A passive hub's reports go to the elected central hub (``registry: {backend: etcd}``).

Every hub hears its own host's agents (and its launcher's batches); while it is not the
leader, what it takes in waits in its forward buffer and goes to the leader's hub as
``forward`` batches, exactly as a Binary-Star edge forwards to its central hub.  The leader
is whoever holds the ``hub_central`` election, its endpoint from the election's candidates
(derived from the config).  Driven from the hub's loop thread with its lock held: every call
here is non-blocking; a batch not acknowledged within FORWARD_TIMEOUT_S goes back to the
buffer and the socket is replaced.
"""

from __future__ import annotations

import logging
import time

import zmq

from common.base_agent import protocol
from common.base_agent.protocol import Request
from common.base_agent.sockets import connect, replies
from common.hub.protocol import ACTION_FORWARD
from observability_hub.peer import FORWARD_TIMEOUT_S, ForwardBuffer

__all__ = ["LeaderForward"]

log = logging.getLogger(__name__)


class LeaderForward:
    def __init__(self, ctx: zmq.Context, hub_name: str, buffer: ForwardBuffer) -> None:
        self.hub_name = hub_name
        self.buffer = buffer
        self.endpoint = ""
        self.forwarded_total = 0
        self._ctx = ctx
        self._sock: zmq.Socket | None = None
        self._inflight: tuple[str, float] | None = None  # request id, sent at

    def to(self, endpoint: str) -> None:
        """Forward to endpoint from now on ("" : nowhere, the buffer is dropped)."""
        if endpoint != self.endpoint:
            self.close()
            self.endpoint = endpoint
        if not endpoint:
            self.buffer.clear()

    def pump(self) -> None:
        if not self.endpoint:
            return
        if self._sock is None:
            self._sock = connect(self._ctx, zmq.DEALER, self.endpoint, hwm=100)
        for reply in replies(self._sock, f"central hub {self.endpoint}"):
            if self._inflight is not None and reply.id == self._inflight[0]:
                self.buffer.acked() if reply.ok else self.buffer.requeue()
                self._inflight = None
        now = time.monotonic()
        if self._inflight is not None and now - self._inflight[1] > FORWARD_TIMEOUT_S:
            log.warning("central hub %s did not acknowledge a forward; again", self.endpoint)
            self.close()
            return
        if self._inflight is None and len(self.buffer):
            items = self.buffer.take(now)
            req = Request(ACTION_FORWARD, {"hub": self.hub_name, "items": items,
                                           "dropped_total": self.buffer.dropped_total},
                          source=self.hub_name)
            try:
                self._sock.send_multipart(protocol.encode_request(req), zmq.NOBLOCK)
            except zmq.Again:
                self.buffer.requeue()
                return
            self._inflight = (req.id, now)
            self.forwarded_total += len(items)

    def close(self) -> None:
        if self._inflight is not None:
            self.buffer.requeue()
            self._inflight = None
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
