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
Before the ROUTER rebinds onto its host's next server key (common.base_agent.security.rebind:
its connections drop, and a reply sent after that reaches nobody) the backlog settles it:
health is answered, every other request read or queued but not served is refused with
``rebinding`` (not served: the client sends it again), and what still arrived on the old
connections before the unbind is dropped (counted; never served).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import zmq

from common.base_agent import protocol
from common.base_agent.links import Link
from common.base_agent.sockets import NOBLOCK, readable, recv_frames, send_frames

__all__ = ["Backlog"]

log = logging.getLogger(__name__)

PUMP_MAX = 256  # requests read per pump
HEALTH_ACTIONS = frozenset({protocol.ACTION_HEALTH, protocol.ACTION_LEGACY_HEALTH})
Respond = Callable[[list[bytes]], list[bytes] | None]
REBINDING = "not served: this server is rebinding onto its next key; send it again"


def _recv(router: zmq.Socket) -> list[bytes]:
    return recv_frames(router, NOBLOCK)


def _is_health(frames: list[bytes]) -> bool:
    try:
        return protocol.decode_incoming(frames).request.action in HEALTH_ACTIONS
    except protocol.ProtocolError:
        return False  # answered (or dropped and counted) in turn by the loop


class Backlog:
    def __init__(self, respond: Respond | None = None,
                 refuse: Callable[[list[bytes], str, str], list[bytes] | None] | None = None
                 ) -> None:
        self._respond, self._refuse = respond, refuse  # for a rebind (before_unbind)
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

    # -- a server key rebind (common.base_agent.security.Rebinding) ------------------------
    def before_unbind(self, router: zmq.Socket) -> None:
        """Answer, while its connections stand, all the ROUTER has read or queued: health
        served, every other request refused as ``rebinding`` (a batch or a bad frame served
        as usual)."""
        assert self._respond is not None and self._refuse is not None, "give respond, refuse"
        refused = 0
        while self._kept:
            out = self._refuse(self._kept.popleft(), protocol.ErrorCode.REBINDING, REBINDING)
            refused += out is not None
            if out is not None:
                send_frames(router, out, NOBLOCK)
        while readable(router):
            frames = self.recv(router)
            if frames is None:
                continue
            out = None if _is_health(frames) else \
                self._refuse(frames, protocol.ErrorCode.REBINDING, REBINDING)
            refused += out is not None
            out = out if out is not None else self._respond(frames)
            if out is not None:
                send_frames(router, out, NOBLOCK)
        if refused:
            log.info("rebinding onto the next server key: %d requests not served, refused "
                     "as rebinding (their clients send them again)", refused)

    def after_unbind(self, router: zmq.Socket) -> None:
        """Drop what arrived on the old connections after before_unbind: never served, and
        their connections are gone (a client resends what it sees unanswered at the drop
        only if the call is idempotent)."""
        dropped = 0
        while readable(router):
            dropped += self.recv(router) is not None
        if dropped:
            log.warning("rebinding onto the next server key: %d requests arrived as the old "
                        "connections closed: dropped, not served", dropped)
