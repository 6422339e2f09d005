"""Copying the event log to the other hub: each hub pushes its own events, the peer merges
them by id (``hub_events``, common.hub.protocol).

A cursor (the last local ``seq`` the peer acknowledged) is kept in the log's own database, so
a hub that restarts, or whose peer was down for an hour, sends exactly what the peer has not
acknowledged; a batch resent after a lost reply is merged by id, so it is stored once.  The
link is one DEALER driven from the hub's loop (a BaseAgent link); a batch not answered within
PUSH_TIMEOUT_S is sent again on a fresh socket, so nothing stale arrives later.
"""

from __future__ import annotations

import logging
import time

import zmq

from common.base_agent import protocol
from common.base_agent.health import CheckResult, Status
from common.base_agent.protocol import Request
from common.base_agent.sockets import connect, replies
from common.hub.protocol import ACTION_EVENTS
from observability_hub.events import EventLog

__all__ = ["PUSH_BATCH", "EventSync"]

log = logging.getLogger(__name__)

PUSH_BATCH = 200  # events per hub_events message (well under the 1 MiB message limit)
PUSH_TIMEOUT_S = 2.0
IDLE_POLL_S = 0.2  # how often the log is asked for new events when there were none
CURSOR_KEY = "peer_acked_seq"


class EventSync:
    name = "hub_events"

    def __init__(self, ctx: zmq.Context, events: EventLog, endpoint: str,
                 hub_name: str) -> None:
        self.events = events
        self.endpoint = endpoint
        self.hub_name = hub_name
        self.cursor = int(events.get_meta(CURSOR_KEY, "0"))
        self.pushed_total = 0
        self._ctx = ctx
        self._sock: zmq.Socket | None = None
        self._inflight: tuple[str, int, float] | None = None  # request id, last seq, sent at
        self._next_at = 0.0

    @property
    def socket(self) -> zmq.Socket:
        if self._sock is None:
            self._sock = connect(self._ctx, zmq.DEALER, self.endpoint, hwm=10)
        return self._sock

    def tick(self) -> None:
        now = time.monotonic()
        if self._inflight is not None and now - self._inflight[2] > PUSH_TIMEOUT_S:
            self._inflight = None
            self._drop_socket()  # the peer is away: a fresh socket, the batch again later
            self._next_at = now + IDLE_POLL_S
        if self._inflight is None and now >= self._next_at:
            self._push(now)

    def _push(self, now: float) -> None:
        batch = self.events.own_after(self.cursor, PUSH_BATCH)
        if not batch:
            self._next_at = now + IDLE_POLL_S
            return
        req = Request(ACTION_EVENTS, {"hub": self.hub_name, "events": [e for _, e in batch]},
                      source=self.hub_name)
        try:
            self.socket.send_multipart(protocol.encode_request(req), zmq.NOBLOCK)
        except zmq.Again:
            self._next_at = now + IDLE_POLL_S
            return
        self._inflight = (req.id, batch[-1][0], now)

    def due_in_s(self) -> float:
        if self._inflight is not None:
            return max(0.0, self._inflight[2] + PUSH_TIMEOUT_S - time.monotonic())
        return max(0.0, self._next_at - time.monotonic())

    def on_readable(self) -> None:
        for reply in replies(self.socket, f"peer hub {self.endpoint}"):
            if self._inflight is None or reply.id != self._inflight[0]:
                continue  # an answer to a batch given up on: it is sent again
            last_seq, self._inflight = self._inflight[1], None
            if not reply.ok:
                log.warning("peer hub refused events: %s %s", reply.code, reply.message)
                self._next_at = time.monotonic() + PUSH_TIMEOUT_S
                continue
            self.pushed_total += last_seq - self.cursor
            self.cursor = last_seq
            self.events.set_meta(CURSOR_KEY, str(last_seq))

    def check(self) -> CheckResult:
        return CheckResult(self.name, Status.PASSING, f"events copied to the peer up to "
                                                      f"seq {self.cursor}")

    def _drop_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def close(self, graceful: bool = False) -> None:
        self._drop_socket()
        self._inflight = None
