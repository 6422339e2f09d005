"""Peers that fail the CURVE handshake before the ZAP handler hears of them: no CURVE at all
(a plain ZMTP peer: mechanism mismatch at the greeting), the wrong server key (the server
cannot open the client's HELLO), or garbage.  libzmq reports these only as socket-monitor
events, without the peer's address; the address comes from the connection's file descriptor,
which the ``ACCEPTED`` event carries, read at once (``getpeername`` on a duplicate) by a thread
that does nothing but wait for the socket's monitor events (the agent's loop may be busy for
longer than a refused connection lives).  libzmq
sends a handshake failure and then ``DISCONNECTED`` (with the descriptor) for the same
connection, one after the other from its I/O thread, which pairs the failure with its address.
A connection closed before its ``ACCEPTED`` event is read has lost its address (a no-CURVE peer
is refused within microseconds: about half of them): the failure is still counted, with the
address ``unknown``.
"""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
import time
from typing import Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from common.base_agent.sockets import recv_frames

__all__ = ["HandshakeWatch"]

log = logging.getLogger(__name__)

RECENT = 20
LOG_FIRST, LOG_EVERY = 10, 100
EVENTS = (zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
          | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_MONITOR_STOPPED)
REASONS = {int(zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL): "protocol (no CURVE, or a wrong server key)",
           int(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL): "no detail (closed mid-handshake)"}


def _peer(fd: int, port: int) -> str:
    """The peer address of an accepted connection's descriptor, read through a duplicate;
    ``unknown`` when the descriptor is gone or now belongs to something else (its local port
    is not the listening one)."""
    try:
        dup = os.dup(fd)
    except OSError:
        return "unknown"
    try:
        sock = socket.socket(fileno=dup)
    except OSError:
        os.close(dup)
        return "unknown"
    with sock:
        try:
            if sock.getsockname()[1] != port:
                return "unknown"
            return str(sock.getpeername()[0])
        except (OSError, IndexError):
            return "unknown"


class HandshakeWatch:
    def __init__(self, sock: zmq.Socket, owner: str) -> None:
        self.owner = owner
        self.sock = sock
        self.monitor = sock.get_monitor_socket(EVENTS)
        self.port = int(sock.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[-1])
        self.failed = 0
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT)
        self._peers: dict[int, str] = {}
        self._pending: str | None = None
        self._lock = threading.Lock()  # recent: appended by the thread, read by the loop
        self._thread = threading.Thread(target=self._run, name=f"handshakes-{owner}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Until the monitor stops (the socket closed, or close()); the socket itself is
        closed by close(), in the owner's thread, once this has returned."""
        try:
            while True:
                event = parse_monitor_message(recv_frames(self.monitor))
                if not self._on_event(int(event["event"]), int(event["value"])):
                    return
        except zmq.ZMQError:
            return

    def _on_event(self, kind: int, value: int) -> bool:
        if kind == zmq.EVENT_ACCEPTED:
            self._peers[value] = _peer(value, self.port)
        elif kind in REASONS:
            self._pending = REASONS[kind]
        elif kind == zmq.EVENT_DISCONNECTED:
            address = self._peers.pop(value, "unknown")
            if self._pending is not None:
                self._count(address, self._pending)
                self._pending = None
        return kind != zmq.EVENT_MONITOR_STOPPED

    def _count(self, address: str, reason: str) -> None:
        with self._lock:
            self.failed += 1
            self.recent.append({"address": address, "reason": reason,
                                "ts": round(time.time(), 3)})
        if self.failed <= LOG_FIRST or self.failed % LOG_EVERY == 0:
            log.warning("%s: handshake failed with a peer at %s: %s (%d failed)", self.owner,
                        address, reason, self.failed)

    def snapshot(self) -> tuple[int, list[dict[str, Any]]]:
        """(failed, the recent failures), read together."""
        with self._lock:
            return self.failed, list(self.recent)

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop the monitor (if the watched socket is still open), let the thread see it, and
        close the monitor socket here: never from two threads at once."""
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:  # already closed: closing it stopped the monitor
            pass
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("%s: handshake watch did not stop within %.1f s", self.owner,
                        timeout_s)
            return
        self.monitor.close(linger=0)
