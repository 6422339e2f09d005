"""Notices to holders (``vram_unload``, ``vram_granted``) sent without blocking the loop.

One DEALER per holder endpoint; sends never wait (a full queue drops the notice and logs it:
the holder also polls ``lease``, and an unanswered unload is abandoned at its deadline).
Replies are drained from ``on_tick`` and only logged: the manager waits for the ``release``,
not for the acknowledgement.  While a holder's host key rotates, a socket whose handshake was
refused is replaced by one offering the other key (common.base_agent.key_switch): a refused
handshake is not retried, and the notices would queue behind it until dropped.
"""

from __future__ import annotations

import logging
from typing import Any

import zmq

from common.base_agent import protocol
from common.base_agent.key_switch import (
    ServerKeyWatch,
    close_watched,
    key_stale,
    watch_if_rotating,
)
from common.base_agent.protocol import Request
from common.base_agent.sockets import connect

__all__ = ["Outbox"]

log = logging.getLogger(__name__)
NOTICE_HWM = 100
CLOSE_LINGER_MS = 200


class Outbox:
    def __init__(self, ctx: zmq.Context, source: str) -> None:
        self._ctx = ctx
        self._source = source
        self._socks: dict[str, zmq.Socket] = {}
        self._keys: dict[str, ServerKeyWatch] = {}  # endpoint -> its handshakes, while rotating
        self.sent = 0
        self.dropped = 0

    def send(self, endpoint: str, action: str, payload: Any) -> bool:
        sock = self._socks.get(endpoint)
        if sock is not None and key_stale(self._keys.get(endpoint), endpoint, sock):
            self._close(endpoint, 0)  # its host's key rotates: one offering the key it serves
            sock = None
        if sock is None:
            sock = self._socks[endpoint] = connect(self._ctx, zmq.DEALER, endpoint, NOTICE_HWM)
            watch = watch_if_rotating(sock, endpoint)
            if watch is not None:
                self._keys[endpoint] = watch
        try:
            sock.send_multipart(protocol.encode_request(
                Request(action, payload, source=self._source)), zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
            log.warning("notice %s to %s dropped: its queue is full", action, endpoint)
            return False
        self.sent += 1
        return True

    def drain(self) -> None:
        for endpoint, sock in list(self._socks.items()):
            while int(sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
                try:
                    reply = protocol.decode_reply(sock.recv_multipart(zmq.NOBLOCK))
                except (zmq.Again, protocol.ProtocolError) as exc:
                    log.debug("bad notice reply from %s: %s", endpoint, exc)
                    break
                if not reply.ok:
                    log.warning("%s answered a notice with %s: %s", endpoint, reply.code,
                                reply.message)

    def keep_only(self, endpoints: set[str], linger_ms: int = CLOSE_LINGER_MS) -> None:
        """Close the sockets of holders that no longer hold anything (a notice just queued to
        one still has linger_ms to leave)."""
        for endpoint in [e for e in self._socks if e not in endpoints]:
            self._close(endpoint, linger_ms)

    def _close(self, endpoint: str, linger_ms: int) -> None:
        close_watched(self._socks.pop(endpoint), self._keys.pop(endpoint, None), endpoint,
                      linger_ms)

    def close(self) -> None:
        self.keep_only(set(), linger_ms=0)
