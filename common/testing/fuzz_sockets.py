"""The socket-level fuzzer: send the hostile input of :mod:`common.testing.fuzz` to live
sockets, as fast as the target takes it, and count what was sent.

* :func:`dealer_barrage`: requests to a ROUTER from a DEALER that never waits for a reply (a
  bounded send high-water mark; a full one is back-pressure: the send waits, up to a limit).
* :func:`subscriber_barrage`: subscription messages to a PUB from an XSUB.
* :class:`HostilePublisher`: an XPUB a SUB connects to; it waits for the subscription, then
  sends hostile messages without dropping any (``XPUB_NODROP``), and relays a genuine
  publisher's messages between them so the subscriber can show it still works.
* :func:`raw_barrage`: one raw TCP or ipc connection per payload, bytes that are not ZMTP.

Under ``security: curve`` (this process configured with :mod:`common.base_agent.security`) the
barrages speak CURVE as this process's identity, so the hostile input reaches the handlers.

Every socket is closed before these return (linger 0; an XSUB lingers up to STALL_S so that
what it queued is sent).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import zmq

from common.base_agent import protocol
from common.base_agent.security import secure_client
from common.base_agent.sockets import NOBLOCK, new_socket, readable, recv_frames, send_frames

__all__ = ["HostilePublisher", "StalledTarget", "dealer_barrage", "raw_barrage",
           "subscriber_barrage"]

BARRAGE_HWM = 1000  # messages the fuzzer queues towards one target before it waits
STALL_S = 5.0  # a target that takes no message for this long has stopped reading


class StalledTarget(RuntimeError):
    """The target took no message, or did not answer the last, within STALL_S."""

    def __init__(self, endpoint: str, sent: int) -> None:
        super().__init__(f"{endpoint} stopped taking messages: nothing for {STALL_S:g} s "
                         f"after {sent} sent")


def _send(sock: zmq.Socket, frames: list[bytes], endpoint: str, sent: int,
          drain: Callable[[], object]) -> None:
    """Send with back-pressure: a full queue (zmq.Again after SNDTIMEO) is retried until
    STALL_S has passed, draining what came back meanwhile."""
    deadline = time.monotonic() + STALL_S
    while True:
        try:
            send_frames(sock, frames)
            return
        except zmq.Again:
            drain()
            if time.monotonic() >= deadline:
                raise StalledTarget(endpoint, sent) from None


def dealer_barrage(ctx: zmq.Context, endpoint: str, messages: Iterable[list[bytes]],
                   hwm: int = BARRAGE_HWM, barrier: bool = True) -> tuple[int, int]:
    """Send every message to the ROUTER at endpoint; returns (sent, replies read).  With
    ``barrier``, return only once the target has taken them all (not for messages that make
    it hang up: what was in flight behind those is lost, the barrier too)."""
    sock = new_socket(ctx, zmq.DEALER, hwm)
    sock.setsockopt(zmq.RECONNECT_IVL, 10)  # an oversized message makes the target hang up
    sock.setsockopt(zmq.MAXMSGSIZE, -1)  # whatever comes back is read (a batch's can be big)
    secure_client(sock, endpoint)  # curve: hostile input from an identity on the list
    sock.connect(endpoint)
    sent = replies = 0

    def drain() -> None:
        nonlocal replies
        while readable(sock):
            recv_frames(sock, NOBLOCK)
            replies += 1

    try:
        for frames in messages:
            _send(sock, frames, endpoint, sent, drain)
            sent += 1
            drain()
        if barrier:
            _barrier(sock, endpoint, sent, drain)
    finally:
        sock.close(linger=0)
    return sent, replies


def _barrier(sock: zmq.Socket, endpoint: str, sent: int, drain: Callable[[], object]) -> None:
    """Wait until the target has taken everything sent: it answers in order, so the reply to
    one last request comes after all the others.  (Closing earlier, with replies unread, resets
    the connection, and the target's kernel drops what it had not read yet.)"""
    request = protocol.Request("fuzz_barrier")
    _send(sock, protocol.encode_request(request), endpoint, sent, drain)
    deadline = time.monotonic() + STALL_S
    while (left_ms := int((deadline - time.monotonic()) * 1000)) > 0:
        if sock.poll(left_ms) and _reply_id(recv_frames(sock, NOBLOCK)) == request.id:
            return
    raise StalledTarget(endpoint, sent)


def _reply_id(frames: list[bytes]) -> str:
    try:
        return protocol.decode_reply(frames).id
    except protocol.ProtocolError:
        return ""


def subscriber_barrage(ctx: zmq.Context, endpoint: str, messages: Iterable[bytes],
                       hwm: int = BARRAGE_HWM) -> int:
    """Send every message to the PUB at endpoint from an XSUB; returns how many were sent."""
    sock = new_socket(ctx, zmq.XSUB, hwm)
    secure_client(sock, endpoint)
    sock.connect(endpoint)
    sent = 0
    try:
        for message in messages:
            _send(sock, [message], endpoint, sent, lambda: None)
            sent += 1
    finally:
        sock.close(linger=int(STALL_S * 1000))  # what is still queued goes out first
    return sent


class HostilePublisher:
    """An XPUB on a free loopback port that a SUB under test connects to.

    ``wait_subscribed(topic)`` blocks until the subscriber's subscription arrives (no
    slow-joiner loss); ``flood(messages)`` sends them all, never dropping one; ``relay()``
    forwards what the genuine publisher (``genuine``, a SUB the caller subscribed) has sent.
    """

    def __init__(self, ctx: zmq.Context, genuine: zmq.Socket | None = None,
                 host: str = "127.0.0.1", hwm: int = BARRAGE_HWM) -> None:
        self.sock = new_socket(ctx, zmq.XPUB, hwm)
        self.sock.setsockopt(zmq.XPUB_NODROP, 1)  # a full queue is back-pressure, not loss
        self.sock.bind(f"tcp://{host}:0")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.genuine = genuine
        self.sent = self.relayed = 0

    def wait_subscribed(self, topic: bytes, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while (left_ms := int((deadline - time.monotonic()) * 1000)) > 0:
            if self.sock.poll(left_ms) and self.sock.recv() == b"\x01" + topic:
                return
        raise TimeoutError(f"no subscription to {topic!r} at {self.endpoint} "
                           f"within {timeout_s:g} s")

    def flood(self, messages: Iterable[list[bytes]], relay_every: int = 100) -> int:
        """Send every message (relaying genuine ones every relay_every); returns the count."""
        count = 0
        for frames in messages:
            _send(self.sock, frames, self.endpoint, self.sent, self.relay)
            self.sent += 1
            count += 1
            if count % relay_every == 0:
                self.relay()
        return count

    def relay(self) -> int:
        """Forward every waiting genuine message (one the subscriber has no room for is
        dropped, as a PUB would); returns how many were forwarded."""
        moved = 0
        while self.genuine is not None and readable(self.genuine):
            try:
                send_frames(self.sock, recv_frames(self.genuine, NOBLOCK), NOBLOCK)
                moved += 1
            except zmq.Again:
                break
        self.relayed += moved
        return moved

    def close(self) -> None:
        self.sock.close(linger=0)


def _raw_socket(endpoint: str) -> tuple[socket.socket, Any]:
    if endpoint.startswith("ipc://"):
        return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), endpoint[len("ipc://"):]
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM), (host, int(port))


def raw_barrage(endpoint: str, payloads: Iterable[bytes], hold: int = 16,
                timeout_s: float = 2.0) -> int:
    """One connection per payload to a tcp:// or ipc:// endpoint: connect, send, close.  The
    first ``hold`` connections stay open (half-done handshakes) until the end.  Returns the
    number of connections that delivered their payload."""
    held: list[socket.socket] = []
    delivered = 0
    try:
        for payload in payloads:
            sock, address = _raw_socket(endpoint)
            sock.settimeout(timeout_s)
            try:
                sock.connect(address)
                sock.sendall(payload)
                delivered += 1
            except OSError:  # the target hung up mid-way: what a bad greeting earns
                pass
            if len(held) < hold:
                held.append(sock)
            else:
                sock.close()
    finally:
        for sock in held:
            sock.close()
    return delivered
