"""From the frames a ROUTER received to the frames it sends back: decode, dispatch to the
handler, count, encode.  Bad frames are answered with an error code (or dropped when they
cannot be routed) and counted; a reply that cannot be serialised becomes an ``internal`` error."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from common.base_agent import protocol
from common.base_agent.handlers import dispatch
from common.base_agent.metrics import AgentMetrics

__all__ = ["RequestHandler"]

log = logging.getLogger(__name__)


class RequestHandler:
    def __init__(self, handlers: dict[str, Callable[[Any], Any]], metrics: AgentMetrics,
                 owner: str) -> None:
        self.handlers, self.metrics, self.owner = handlers, metrics, owner

    def __call__(self, frames: list[bytes]) -> list[bytes] | None:
        t0 = time.perf_counter()
        try:
            incoming = protocol.decode_incoming(frames)
        except protocol.ProtocolError as exc:
            self.metrics.bad_frame(exc.code)
            if not exc.route:
                return None
            return exc.route + protocol.encode_reply(
                protocol.Reply("", False, code=exc.code, message=exc.message))
        reply = dispatch(self.handlers, incoming.request, self.owner)
        self.metrics.observe(incoming.request.action, time.perf_counter() - t0, reply.code)
        try:
            return incoming.route + _encode(incoming, reply)
        except (TypeError, ValueError, OverflowError) as exc:
            log.error("%s: reply to %r is not serialisable: %s", self.owner, reply.id, exc)
            return incoming.route + protocol.encode_reply(protocol.Reply(
                reply.id, False, code=protocol.ErrorCode.INTERNAL,
                message=f"reply not serialisable: {exc}"))


def _encode(incoming: protocol.Incoming, reply: protocol.Reply) -> list[bytes]:
    if incoming.legacy:
        body = reply.result if reply.ok else {"status": "error", "error": reply.message}
        return protocol.encode_legacy_reply(body)
    return protocol.encode_reply(reply)
