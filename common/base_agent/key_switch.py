"""A client socket's handshakes while its server's host key rotates.

While the signed list gives a host two server keys (common.base_agent.security), the Client
watches each socket it opens to that host with a socket monitor: a failed handshake (the
server serves the other key) is seen within a millisecond, not at the call's deadline.  A
request sent while the socket had no connection was only queued, never delivered, so the
Client may send it again on a new socket that offers the other key, even a call that is not
idempotent; a request sent on an open connection that then drops is resent at once only if
the call is idempotent (it may have been delivered), instead of at its deadline.  A server
about to rebind answers what it read but did not serve with ``rebinding`` (never served): the
Client sends that again too, offering the other key (:func:`server_leaving`).
Outside a rotation no socket is watched and the call path is unchanged.  A long-lived socket
(the launcher's health probes) asks :func:`key_stale` before each use and reopens when true.
"""

from __future__ import annotations

import itertools
import os

import zmq
from zmq.utils.monitor import parse_monitor_message

from common.base_agent.security import listed, rotating, server_key_failed, server_key_for

__all__ = ["ServerKeyWatch", "close_watched", "key_stale", "record_failure", "server_leaving",
           "watch_if_rotating"]

_EVENTS = (zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
           | zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
           | zmq.EVENT_DISCONNECTED)
_SERIAL = itertools.count()  # pyzmq's default monitor address reuses a closed socket's fd
_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
           | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)


class ServerKeyWatch:
    """The handshake state of one connecting socket, from its monitor (read without
    blocking, in the socket's thread)."""

    def __init__(self, sock: zmq.Socket, offered: str) -> None:
        self.sock = sock
        self.offered = offered  # the server key the socket offers
        address = f"inproc://server-key-watch-{os.getpid()}-{next(_SERIAL)}"
        sock.monitor(address, _EVENTS)
        self.monitor = sock.context.socket(zmq.PAIR)
        # no high-water mark: libzmq's I/O thread sends monitor events blocking, so a full
        # queue (a server refusing our key every ~17 ms while nobody reads) froze the context
        self.monitor.rcvhwm = 0
        self.monitor.linger = 0
        self.monitor.connect(address)
        self.connected = False  # the last handshake succeeded and no disconnect since
        self.failed = False  # the last handshake failed: the server serves another key
        self.successes = 0  # handshakes that succeeded: a request sent before one may be out
        self.drops = 0  # connections lost (the server rebinding onto its other key drops them)

    def update(self) -> ServerKeyWatch:
        while self.monitor.poll(0):
            event = parse_monitor_message(self.monitor.recv_multipart())["event"]
            if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.connected, self.failed = True, False
                self.successes += 1
            elif event & _FAILED:
                self.connected, self.failed = False, True
            elif event == zmq.EVENT_DISCONNECTED:
                self.drops += self.connected
                self.connected = False
        return self

    def close(self) -> None:
        """Stop the monitor, then close its socket: call it before closing the watched
        socket.  libzmq's I/O thread sends a monitor's events blocking, so events of a socket
        closing (asynchronously, after zmq_close) to a monitor already closed froze the whole
        context for good: no socket of it connected again."""
        if not self.sock.closed:
            self.sock.disable_monitor()
        self.monitor.close(linger=0)


def watch_if_rotating(sock: zmq.Socket, endpoint: str) -> ServerKeyWatch | None:
    """A watch for a socket just connected to endpoint (it offers server_key_for now)."""
    return ServerKeyWatch(sock, server_key_for(endpoint)) if rotating(endpoint) else None


def record_failure(watch: ServerKeyWatch | None, endpoint: str) -> bool:
    """Whether the watched socket's last handshake failed; if so, the sockets opened to
    endpoint from now on offer the other key.  Call it before closing a watched socket too:
    a socket closed at a timeout must not take its lesson with it."""
    if watch is None or not watch.update().failed:
        return False
    server_key_failed(endpoint, watch.offered)
    return True


def close_watched(sock: zmq.Socket | None, watch: ServerKeyWatch | None, endpoint: str,
                  linger_ms: int = 0) -> None:
    """Close a socket to endpoint and its key watch, in the one safe order: the watch's lesson
    (a failed handshake) is kept for the next socket there, then its monitor stops while the
    socket is still open (libzmq's I/O thread sends monitor events blocking: a socket closing
    after its monitor froze the whole context), then the socket closes."""
    record_failure(watch, endpoint)
    if watch is not None:
        watch.close()
    if sock is not None:
        sock.close(linger=linger_ms)


def server_leaving(watch: ServerKeyWatch | None, endpoint: str) -> None:
    """The server at endpoint answered ``rebinding``: it is leaving the key this socket
    offers, so the sockets opened there from now on offer the other one."""
    if watch is not None:
        server_key_failed(endpoint, watch.offered)


def key_stale(watch: ServerKeyWatch | None, endpoint: str,
              sock: zmq.Socket | None = None) -> bool:
    """True when a socket to endpoint should be reopened: it was opened before its host's
    key began rotating (unwatched), the rotation is over (watched: no longer needed), its
    last handshake failed (then the next socket offers the other key), or (given sock) it
    offers a server key the list no longer has (opened before a rotation it slept through)."""
    now = rotating(endpoint)
    if watch is None and not now:
        return sock is not None and not listed(sock, endpoint)
    if watch is None or not now:
        return True  # unwatched while rotating, or watched after it
    return record_failure(watch, endpoint)
