"""The link between the two hubs: state beats, the edge's forwarding, the central's sync.

One DEALER to the peer hub, driven from the hub's loop as a BaseAgent link.  Liveness is the
one :class:`Heartbeat` (PEER_INTERVAL_S x PEER_LIVENESS = 1 s); a lost peer gets a fresh socket
so nothing stale is delivered when it returns.  Forwarded items wait in a bounded buffer: the
oldest are dropped and counted when it is full, and a batch not acknowledged within
FORWARD_TIMEOUT_S goes back to the front of the buffer and is sent again.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Protocol

import zmq

from common.base_agent import protocol
from common.base_agent.health import CheckResult, Status
from common.base_agent.heartbeat import Heartbeat
from common.base_agent.protocol import Request
from common.base_agent.sockets import connect, replies
from common.hub.protocol import (
    ACTION_FORWARD,
    ACTION_PEER,
    ACTION_SYNC,
    PEER_INTERVAL_S,
    PEER_LIVENESS,
)

__all__ = ["FORWARD_BATCH", "ForwardBuffer", "PeerHost", "PeerLink"]

log = logging.getLogger(__name__)

FORWARD_BATCH = 500
FORWARD_TIMEOUT_S = 1.0
SYNC_TIMEOUT_S = 2.0
EXPIRED = "expired"


class PeerHost(Protocol):
    """What the peer link needs from its hub."""

    def peer_beat(self) -> dict[str, Any]: ...

    def on_peer_state(self, state: str) -> None: ...

    def forwarding(self) -> bool: ...

    def wants_sync(self) -> bool: ...

    def on_synced(self, items: list[dict[str, Any]]) -> None: ...


class ForwardBuffer:
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self.items: deque[tuple[str, float, dict[str, Any]]] = deque()
        self.inflight: list[tuple[str, float, dict[str, Any]]] = []
        self.dropped_total = 0

    def __len__(self) -> int:
        return len(self.items) + len(self.inflight)

    def add(self, kind: str, received_at: float, body: dict[str, Any]) -> None:
        self.items.append((kind, received_at, body))
        self._trim()

    def _trim(self) -> None:
        while self.items and len(self.items) + len(self.inflight) > self.max_items:
            self.items.popleft()
            self.dropped_total += 1

    def take(self, now: float, limit: int = FORWARD_BATCH) -> list[dict[str, Any]]:
        while self.items and len(self.inflight) < limit:
            self.inflight.append(self.items.popleft())
        return [{"kind": k, "age_s": round(now - t, 4), "body": b} for k, t, b in self.inflight]

    def acked(self) -> None:
        self.inflight.clear()

    def requeue(self) -> None:
        self.items.extendleft(reversed(self.inflight))
        self.inflight.clear()
        self._trim()

    def clear(self) -> None:
        self.items.clear()
        self.inflight.clear()


class PeerLink:
    name = "hub_peer"

    def __init__(self, ctx: zmq.Context, host: PeerHost, endpoint: str, hub_name: str,
                 buffer: ForwardBuffer) -> None:
        self.host = host
        self.endpoint = endpoint
        self.hub_name = hub_name
        self.buffer = buffer
        self.heartbeat = Heartbeat(PEER_INTERVAL_S, PEER_LIVENESS)
        self.peer_state = EXPIRED
        self._ctx = ctx
        self._sock: zmq.Socket | None = None
        self._pending: dict[str, tuple[str, float]] = {}  # request id -> (action, sent at)

    @property
    def socket(self) -> zmq.Socket:
        if self._sock is None:
            self._sock = connect(self._ctx, zmq.DEALER, self.endpoint, hwm=100)
        return self._sock

    def up(self) -> bool:
        return self.peer_state != EXPIRED

    def tick(self) -> None:
        now = time.monotonic()
        if self.heartbeat.peer_lost():
            self._lost()
        if self.heartbeat.send_due():
            self._send(ACTION_PEER, self.host.peer_beat())
        self._expire_pending(now)
        inflight = {action for action, _ in self._pending.values()}
        if self.host.forwarding() and ACTION_FORWARD not in inflight and len(self.buffer):
            self._send(ACTION_FORWARD, {"hub": self.hub_name, "items": self.buffer.take(now),
                                        "dropped_total": self.buffer.dropped_total})
        if self.up() and self.host.wants_sync() and ACTION_SYNC not in inflight:
            self._send(ACTION_SYNC, {"hub": self.hub_name})

    def due_in_s(self) -> float:
        """Forwarding and sync are checked every tick: keep the hub's 50 ms pace."""
        return min(0.05, self.heartbeat.due_in_s())

    def _lost(self) -> None:
        if self.peer_state != EXPIRED:
            log.warning("peer hub %s silent for %.1f s", self.endpoint,
                        self.heartbeat.silence_s())
            self.peer_state = EXPIRED
            self.host.on_peer_state(EXPIRED)
        self.close()
        self.heartbeat.reset()

    def _expire_pending(self, now: float) -> None:
        for rid, (action, sent_at) in list(self._pending.items()):
            limit = SYNC_TIMEOUT_S if action == ACTION_SYNC else FORWARD_TIMEOUT_S
            if now - sent_at > limit:
                del self._pending[rid]
                if action == ACTION_FORWARD:
                    self.buffer.requeue()

    def _send(self, action: str, payload: dict[str, Any]) -> None:
        req = Request(action, payload, source=self.hub_name)
        if action == ACTION_PEER:
            self.heartbeat.sent()
        else:
            self._pending[req.id] = (action, time.monotonic())
        try:
            self.socket.send_multipart(protocol.encode_request(req), zmq.NOBLOCK)
        except zmq.Again:
            pass  # the pending deadline requeues it

    def heard(self, state: str) -> None:
        """Any sign of the peer: a reply here or its own beat at our ROUTER."""
        self.heartbeat.heard()
        if state and state != self.peer_state:
            self.peer_state = state
            self.host.on_peer_state(state)

    def on_readable(self) -> None:
        for reply in replies(self.socket, f"peer hub {self.endpoint}"):
            self._on_reply(reply)

    def _on_reply(self, reply: protocol.Reply) -> None:
        action, _ = self._pending.pop(reply.id, (ACTION_PEER, 0.0))
        result = reply.result if reply.ok and isinstance(reply.result, dict) else {}
        self.heard(str(result.get("state", "")) if action == ACTION_PEER else "")
        if action == ACTION_FORWARD:
            self.buffer.acked() if reply.ok else self.buffer.requeue()
        elif action == ACTION_SYNC and reply.ok:
            self.host.on_synced(list(result.get("items", [])))
        if not reply.ok:
            log.warning("peer hub refused %s: %s %s", action, reply.code, reply.message)

    def check(self) -> CheckResult:
        if self.up():
            return CheckResult(self.name, Status.PASSING, f"peer {self.peer_state}")
        return CheckResult(self.name, Status.WARNING, f"peer hub {self.endpoint} silent")

    def close(self, graceful: bool = False) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        for action, _ in self._pending.values():
            if action == ACTION_FORWARD:
                self.buffer.requeue()
        self._pending.clear()
