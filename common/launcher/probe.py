"""Health probes for the launcher: one DEALER per target, answered inside the launcher's loop.

A probe is the agent's own ``health`` request (or the legacy one-JSON-frame ``health_check``
for an unmigrated script), so "ready" means the agent answers, not that a process exists.
A target's socket is in the launcher's poll set only while a probe of it awaits its answer:
every turn of the loop polls every socket in that set (about half a microsecond each), and
hundreds of idle agents' sockets made each turn cost more than the turn's work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
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

__all__ = ["Prober"]

Watch = Callable[[zmq.Socket, Callable[[], None]], None]
LEGACY_PROBE = [b"", json.dumps({"action": protocol.ACTION_LEGACY_HEALTH}).encode()]


class _Target:
    __slots__ = ("endpoint", "legacy", "polled", "sent_at", "sock", "watch")

    def __init__(self, sock: zmq.Socket, endpoint: str, legacy: bool) -> None:
        self.sock, self.endpoint, self.legacy = sock, endpoint, legacy
        self.sent_at = 0.0  # 0: no probe outstanding
        self.polled = False  # in the launcher's poll set (while a probe is outstanding)
        self.watch: ServerKeyWatch | None = watch_if_rotating(sock, endpoint)


class Prober:
    """``probe(key, endpoint, legacy, payload)`` sends; ``on_answer(key, report)`` is called
    on the reply."""

    def __init__(self, ctx: zmq.Context, watch: Watch, unwatch: Callable[[zmq.Socket], None],
                 on_answer: Callable[[str, dict[str, Any]], None]) -> None:
        self._ctx, self._watch, self._unwatch = ctx, watch, unwatch
        self._on_answer = on_answer
        self._targets: dict[str, _Target] = {}

    def probe(self, key: str, endpoint: str, legacy: bool = False,
              payload: dict[str, Any] | None = None) -> None:
        target = self._targets.get(key)
        if target is None or target.endpoint != endpoint \
                or key_stale(target.watch, endpoint, target.sock):
            sent_at = target.sent_at if target is not None else 0.0
            self.forget(key)
            target = self._open(key, endpoint, legacy)
            target.sent_at = sent_at  # a new socket for its host's rotating key: same wait
        if not int(target.sock.getsockopt(zmq.EVENTS)) & zmq.POLLOUT:
            return  # not connected yet (the agent is still starting): nothing to encode
        while not target.polled and int(target.sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            target.sock.recv_multipart(zmq.NOBLOCK)  # a late answer to an earlier probe
        frames = LEGACY_PROBE if legacy else protocol.encode_request(
            Request(protocol.ACTION_HEALTH, payload, source="launcher"))
        try:
            target.sock.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            return
        if not target.sent_at:
            target.sent_at = time.monotonic()
        if not target.polled:
            target.polled = True
            self._watch(target.sock, lambda: self._drain(key))

    def _open(self, key: str, endpoint: str, legacy: bool) -> _Target:
        sock = connect(self._ctx, zmq.DEALER, endpoint, hwm=16)
        target = self._targets[key] = _Target(sock, endpoint, legacy)
        return target

    def outstanding_s(self, key: str) -> float:
        """How long the oldest unanswered probe of key has waited (0 if none).  A probe whose
        socket's handshake then failed (its host key rotating: the agent serves the other
        key) never reached the agent, which answers all it read before it rebinds: it is
        dropped, not a miss, and the next probe goes on a socket offering the other key (a
        hung agent fails no handshake: its ZAP answer just never comes)."""
        target = self._targets.get(key)
        if target is None or not target.sent_at:
            return 0.0
        if target.watch is not None and target.watch.update().failed:
            target.sent_at = 0.0
            return 0.0
        return time.monotonic() - target.sent_at

    def forget(self, key: str) -> None:
        """Drop key's socket: stale replies of a dead process must not count for its successor."""
        target = self._targets.pop(key, None)
        if target is not None:
            self._unwatch(target.sock)
            close_watched(target.sock, target.watch, target.endpoint)

    def close(self) -> None:
        for key in list(self._targets):
            self.forget(key)

    def _drain(self, key: str) -> None:
        target = self._targets.get(key)
        while target is not None and int(target.sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            frames = target.sock.recv_multipart(zmq.NOBLOCK)
            report = self._decode(frames, target.legacy)
            if report is not None:
                target.sent_at = 0.0
                self._on_answer(key, report)
            target = self._targets.get(key)  # on_answer may forget key
        if target is not None and not target.sent_at and target.polled:
            target.polled = False  # answered: out of the poll set till the next probe
            self._unwatch(target.sock)

    @staticmethod
    def _decode(frames: list[bytes], legacy: bool) -> dict[str, Any] | None:
        try:
            if legacy:
                report = json.loads(frames[-1])
                return report if isinstance(report, dict) else None
            reply = protocol.decode_reply(frames)
        except (ValueError, RecursionError, protocol.ProtocolError):  # or JSON nested too deep
            return None
        return reply.result if reply.ok and isinstance(reply.result, dict) else None
