"""From the frames a ROUTER received to the frames it sends back: decode, dispatch to the
handler, count, encode.  Bad frames are answered with an error code (or dropped when they
cannot be routed) and counted; a reply that cannot be serialised becomes an ``internal`` error,
one over MAX_MESSAGE_BYTES a ``too_large`` one.  A request whose handler parks it is kept in
``parked`` and answered later (common.base_agent.parked)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from common.base_agent import protocol
from common.base_agent.batch import BATCH_HEADER, decode_batch, encode_batch_replies
from common.base_agent.errors import MeshError
from common.base_agent.handlers import dispatch
from common.base_agent.metrics import AgentMetrics
from common.base_agent.parked import Park, ParkedRequest, ParkedRequests

__all__ = ["RequestHandler"]

log = logging.getLogger(__name__)

BATCH_BUDGET_S = 0.5  # the calls of one batch that start later than this are not run
UNKNOWN_LABEL = "_unknown"  # the metrics label of every request for an action with no handler


class RequestHandler:
    def __init__(self, handlers: dict[str, Callable[[Any], Any]], metrics: AgentMetrics,
                 owner: str, parked: ParkedRequests) -> None:
        self.handlers, self.metrics, self.owner = handlers, metrics, owner
        self.parked = parked

    def __call__(self, frames: list[bytes]) -> list[bytes] | None:
        if len(frames) == 3 and frames[1] == BATCH_HEADER:
            return self._batch(frames)
        t0 = time.perf_counter()
        try:
            incoming = protocol.decode_incoming(frames)
        except protocol.ProtocolError as exc:
            return self._refuse(exc, exc.route)
        try:
            reply = dispatch(self.handlers, incoming.request, self.owner)
        except Park as park:
            self.parked.add(frames, park)
            return None
        self.metrics.observe(self._label(incoming.request.action), time.perf_counter() - t0,
                             reply.code)
        try:
            out = _encode(incoming, reply)
        except (TypeError, ValueError, OverflowError):
            out = protocol.encode_reply(self._serialisable(reply))
        if size := self._over_limit(out, repr(reply.id)):
            out = protocol.encode_reply(_too_large(reply, size))
        return incoming.route + out

    def _label(self, action: str) -> str:
        """The metrics label of action: a peer's made-up names share one series."""
        return action if action in self.handlers else UNKNOWN_LABEL

    def _refuse(self, exc: protocol.ProtocolError, route: list[bytes]) -> list[bytes] | None:
        """Count a bad message; answer it with its error code when it can be routed."""
        self.metrics.bad_frame(exc.code)
        if not route:
            return None
        return route + protocol.encode_reply(
            protocol.Reply("", False, code=exc.code, message=exc.message))

    def _batch(self, frames: list[bytes]) -> list[bytes] | None:
        """Every call of a batch through the same dispatch and metrics, answered together."""
        try:
            requests = decode_batch(frames[2])
        except protocol.ProtocolError as exc:
            return self._refuse(exc, frames[:1])
        replies = []
        deadline = time.perf_counter() + BATCH_BUDGET_S
        for req in requests:
            t0 = time.perf_counter()
            if t0 > deadline:  # the rest is refused, so one message cannot hold the agent long
                reply = protocol.Reply(req.id, False, code=protocol.ErrorCode.UNAVAILABLE,
                                       message=f"batch over its {BATCH_BUDGET_S:g} s budget; "
                                               "send the rest again, or smaller batches")
            else:
                reply = self._dispatch_in_batch(req)
            self.metrics.observe(self._label(req.action), time.perf_counter() - t0, reply.code)
            replies.append(reply)
        try:
            out = encode_batch_replies(replies)
        except (TypeError, ValueError, OverflowError):
            out = encode_batch_replies([self._serialisable(r) for r in replies])
        if size := self._over_limit(out, "a batch"):
            out = encode_batch_replies([_too_large(r, size) for r in replies])
        return frames[:1] + out

    def refuse(self, parked: ParkedRequest, error: MeshError) -> list[bytes]:
        """The error reply to a parked request, counted like any answer."""
        out = self.unserved(parked.frames, error.code, error.message, parked.parked_at)
        assert out is not None, "a parked request decoded when it was parked"
        return out

    def unserved(self, frames: list[bytes], code: str, message: str,
                 since: float | None = None) -> list[bytes] | None:
        """The error reply (code, message) to a request that is not served, counted like any
        answer; None when frames are no single decodable request (a batch, a bad frame):
        those are for __call__."""
        if len(frames) == 3 and frames[1] == BATCH_HEADER:
            return None
        try:
            incoming = protocol.decode_incoming(frames)
        except protocol.ProtocolError:
            return None
        reply = protocol.Reply(incoming.request.id, False, code=code, message=message)
        self.metrics.observe(self._label(incoming.request.action),
                             time.monotonic() - since if since is not None else 0.0,
                             reply.code)
        return incoming.route + _encode(incoming, reply)

    def _dispatch_in_batch(self, req: protocol.Request) -> protocol.Reply:
        try:
            return dispatch(self.handlers, req, self.owner)
        except Park as park:  # a batch is answered together: it cannot wait for one call
            return protocol.Reply(req.id, False, code=protocol.ErrorCode.UNAVAILABLE,
                                  message=f"{park.why}; a call in a batch does not wait: "
                                          "send it alone")

    def _over_limit(self, frames: list[bytes], what: str) -> int:
        """The size of an encoded reply over MAX_MESSAGE_BYTES (its peer would refuse it, and
        the ROUTER would queue it: up to the high-water mark of them), else 0."""
        size = sum(map(len, frames))
        if size <= protocol.MAX_MESSAGE_BYTES:
            return 0
        log.warning("%s: reply to %s is %d bytes, over the limit: answered too_large",
                    self.owner, what, size)
        return size

    def _serialisable(self, reply: protocol.Reply) -> protocol.Reply:
        try:
            protocol.encode_reply(reply)
            return reply
        except (TypeError, ValueError, OverflowError) as exc:
            log.error("%s: reply to %r is not serialisable: %s", self.owner, reply.id, exc)
            return protocol.Reply(reply.id, False, code=protocol.ErrorCode.INTERNAL,
                                  message=f"reply not serialisable: {exc}")


def _too_large(reply: protocol.Reply, size: int) -> protocol.Reply:
    return protocol.Reply(reply.id, False, code=protocol.ErrorCode.TOO_LARGE,
                          message=f"the reply of {size} bytes is over the "
                                  f"{protocol.MAX_MESSAGE_BYTES} byte limit")


def _encode(incoming: protocol.Incoming, reply: protocol.Reply) -> list[bytes]:
    if incoming.legacy:
        body = reply.result if reply.ok else {"status": "error", "error": reply.message}
        return protocol.encode_legacy_reply(body)
    return protocol.encode_reply(reply)
