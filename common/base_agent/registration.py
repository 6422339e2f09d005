"""The agent's link to the registry: asynchronous, retrying registration and heartbeats.

The agent never blocks on the registry: it serves requests while this link registers in the
background (the original system blocked ~19 s in ``__init__``).  Liveness of the registry is
judged by the one :class:`Heartbeat`; a silent registry gets a fresh socket after a doubling
backoff, and an instance the registry no longer knows (it expired us, e.g. after SIGSTOP) is
registered again.  With a registry pair (common.base_agent.registries) the link moves on to
the next endpoint when its registry is silent or refuses as passive, at once; it backs off only
when it has gone round them all.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import zmq

from common.base_agent import protocol
from common.base_agent.health import CheckResult, Status
from common.base_agent.heartbeat import Heartbeat
from common.base_agent.key_switch import (
    ServerKeyWatch,
    close_watched,
    key_stale,
    watch_if_rotating,
)
from common.base_agent.protocol import ErrorCode, Request
from common.base_agent.registries import RegistryRing
from common.base_agent.sockets import connect, replies

__all__ = ["RegistryLink"]

log = logging.getLogger(__name__)

DEREGISTER_TIMEOUT_S = 0.5


class RegistryLink:
    """Registers one instance and keeps it alive.  Used from the agent's loop thread only."""

    name = "registry"

    def __init__(self, ctx: zmq.Context, endpoint: str, record: dict[str, Any],
                 heartbeat: Heartbeat) -> None:
        self.ring = RegistryRing(endpoint)
        self.record = record
        self.heartbeat = heartbeat
        self.registered = False
        self.last_error = ""
        self._ctx = ctx
        self._sock: zmq.Socket | None = None
        self._key: ServerKeyWatch | None = None  # its handshakes, while the host key rotates
        self._pending: dict[str, str] = {}  # request id -> action
        self._retry_at = 0.0
        self._vouched_until = 0.0  # the launcher beats for us till then (common.base_agent.vouch)

    @property
    def endpoint(self) -> str:
        return self.ring.endpoint

    @property
    def socket(self) -> zmq.Socket:
        if self._sock is None:
            self._sock = connect(self._ctx, zmq.DEALER, self.endpoint, hwm=100)
            self._key = watch_if_rotating(self._sock, self.endpoint)
        return self._sock

    def _send(self, action: str, payload: Any) -> None:
        if self._sock is not None and key_stale(self._key, self.endpoint, self._sock):
            self.close()  # the registry's host key rotates: one offering the key it serves
        req = Request(action=action, payload=payload, source=self.record["name"])
        if len(self._pending) > 64:  # a silent registry must not grow this without bound
            self._pending.clear()
        self._pending[req.id] = action
        try:
            self.socket.send_multipart(protocol.encode_request(req), zmq.NOBLOCK)
        except zmq.Again:
            self._pending.pop(req.id, None)
        self.heartbeat.sent()

    def tick(self) -> None:
        """Called by the agent loop: register, beat, or reconnect as due."""
        if self.registered and time.monotonic() < self._vouched_until:
            self.heartbeat.sent()  # our launcher's batch beats for us (and hears the registry)
            self.heartbeat.heard()
        elif self.heartbeat.peer_lost():
            self._reconnect()
        elif not self.registered:
            if time.monotonic() >= self._retry_at and self.heartbeat.send_due():
                self._send(protocol.ACTION_REGISTER, self.record)
        elif self.heartbeat.send_due():
            self._send(protocol.ACTION_HEARTBEAT, {"instance_id": self.record["instance_id"]})

    def unvouch(self) -> None:
        """The launcher that vouched for us is stuck: beat on our own, the first beat now."""
        if self._vouched_until:
            self._vouched_until = 0.0
            self.heartbeat.reset()

    def vouched(self, request: dict[str, Any], health: dict[str, Any]) -> dict[str, Any]:
        """A launcher probe vouching for us (common.base_agent.vouch): no beats of our own
        for hold_s; register again if the registry told the launcher it lost us."""
        self._vouched_until = time.monotonic() + request["hold_s"]
        if request["unregistered"] and self.registered:
            log.info("the registry no longer knows %s (its launcher says): registering again",
                     self.record["instance_id"])
            self._register_again()
        return {"registry": {"instance_id": self.record["instance_id"],
                             "registered": self.registered}}

    def _reconnect(self, why: str = "silent") -> None:
        lost = self.endpoint
        self.ring.advance()
        wait = self.heartbeat.next_backoff_s() if self.ring.index == 0 else 0.0
        log.warning("registry %s %s (%.1f s since heard); to %s in %.1f s",
                    lost, why, self.heartbeat.silence_s(), self.endpoint, wait)
        self.close()
        self.registered = False
        self.last_error = f"registry {lost} {why}"
        self.heartbeat.reset(delay_s=wait)

    def due_in_s(self) -> float:
        now = time.monotonic()
        if self.registered and now < self._vouched_until:
            return self._vouched_until - now  # nothing to do till the vouch runs out
        retry = max(0.0, self._retry_at - now) if not self.registered else 0.0
        return max(retry, self.heartbeat.due_in_s())

    def on_readable(self) -> None:
        """Drain replies from the registry."""
        sock = self.socket
        for reply in list(replies(sock, f"registry {self.endpoint}")):
            if sock is not self._sock:
                return  # an earlier reply moved us to another registry
            self.heartbeat.heard()
            self._on_reply(self._pending.pop(reply.id, ""), reply)

    def _on_reply(self, action: str, reply: protocol.Reply) -> None:
        if reply.ok:
            if action == protocol.ACTION_REGISTER:
                log.info("registered %s at %s", self.record["name"], self.record["endpoint"])
                self.registered, self.last_error = True, ""
            return
        self.last_error = f"{reply.code}: {reply.message}"
        if reply.code == ErrorCode.PASSIVE:
            self._reconnect("passive")
        elif reply.code == ErrorCode.NOT_FOUND:  # the registry expired us; register again
            self._register_again()
        elif action == protocol.ACTION_REGISTER:
            log.error("registration refused: %s", self.last_error)
            self._retry_at = time.monotonic() + self.heartbeat.interval_s

    def _register_again(self) -> None:
        """Register at once, not at the next beat: callers cannot find us till then."""
        self.registered = False
        self.heartbeat.reset()

    def deregister(self) -> None:
        """Best effort, bounded by DEREGISTER_TIMEOUT_S; called once at stop."""
        if not self.registered or self._sock is None:
            return
        self._send(protocol.ACTION_DEREGISTER, {"instance_id": self.record["instance_id"]})
        if self._sock.poll(int(DEREGISTER_TIMEOUT_S * 1000)):
            self.on_readable()

    def check(self) -> CheckResult:
        if self.registered:
            vouched = time.monotonic() < self._vouched_until
            return CheckResult(self.name, Status.PASSING, "registered (its launcher beats for "
                               "it)" if vouched else "registered")
        return CheckResult(self.name, Status.WARNING, self.last_error or "registration pending")

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self.deregister()
        close_watched(self._sock, self._key, self.endpoint)
        self._key = self._sock = None
        self._pending.clear()
