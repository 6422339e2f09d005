"""Requests that arrive while a handler waits on another agent: health now, the rest later.

An agent serves one request at a time in its loop.  A handler that calls another agent waits
(bounded by the call's deadline, possibly seconds when the callee just died); meanwhile the
agent's Client calls :meth:`BaseAgent.pump`, which reads the ROUTER through a ``Backlog``:
``health`` and the legacy ``health_check`` are answered at once, so that a bounded wait is not
taken for a hang (the launcher kills an agent that misses three probes), and every other
request is kept, in arrival order, for the loop to serve after the handler.  The agent's
links (registry, hub) read their replies and beat meanwhile, so the registry does not expire a
live agent either.  Only the loop thread pumps (``owner``), and never from inside a pump.
Parked requests that are to be served again (common.base_agent.parked) are kept here too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import zmq

from common.base_agent import protocol
from common.base_agent.links import Link
from common.base_agent.sockets import NOBLOCK, readable, recv_frames, send_frames

__all__ = ["Backlog"]

PUMP_MAX = 256  # requests read per pump
HEALTH_ACTIONS = frozenset({protocol.ACTION_HEALTH, protocol.ACTION_LEGACY_HEALTH})
Respond = Callable[[list[bytes]], list[bytes] | None]


def _recv(router: zmq.Socket) -> list[bytes]:
    return recv_frames(router, NOBLOCK)


def _is_health(frames: list[bytes]) -> bool:
    try:
        return protocol.decode_incoming(frames).request.action in HEALTH_ACTIONS
    except protocol.ProtocolError:
        return False  # answered (or dropped and counted) in turn by the loop


class Backlog:
    def __init__(self) -> None:
        self._kept: deque[list[bytes]] = deque()
        # reads one message; None drops it (curve: its sender's key was revoked, see zap)
        self.recv: Callable[[zmq.Socket], list[bytes] | None] = _recv
        self.owner: int | None = None  # the loop thread's ident
        self._pumping = False

    def __bool__(self) -> bool:
        return bool(self._kept)

    def keep(self, frames: list[bytes]) -> None:
        """Serve this request (a parked one, now answerable) in the loop's next drain."""
        self._kept.append(frames)

    def next(self, router: zmq.Socket) -> list[bytes] | None:
        """The next request to serve: the kept ones first, then the socket's; None if none."""
        if self._kept:
            return self._kept.popleft()
        while readable(router):
            frames = self.recv(router)
            if frames is not None:
                return frames
        return None

    def serve(self, router: zmq.Socket, respond: Respond, most: int, budget_s: float) -> None:
        """Answer up to ``most`` requests (kept ones first), or for up to budget_s."""
        deadline = time.monotonic() + budget_s
        for _ in range(most):
            frames = self.next(router)
            if frames is None:
                return
            out = respond(frames)
            if out is not None:
                send_frames(router, out, NOBLOCK)
            if time.monotonic() >= deadline:
                return

    def pump(self, router: zmq.Socket, links: Sequence[Link], respond: Respond) -> None:
        if self._pumping or threading.get_ident() != self.owner:
            return
        self._pumping = True
        try:
            for link in links:
                link.on_readable()
                link.tick()
            self._take(router, respond)
        finally:
            self._pumping = False

    def _take(self, router: zmq.Socket, respond: Respond) -> None:
        """Read the waiting requests: answer health ones now, keep the others."""
        for _ in range(PUMP_MAX):
            if not readable(router):
                return
            frames = self.recv(router)
            if frames is None:
                continue
            if not _is_health(frames):
                self._kept.append(frames)
                continue
            out = respond(frames)
            if out is not None:
                send_frames(router, out, NOBLOCK)
