"""The limits of the hub's HTTP side, and the parts that enforce them.

:class:`HttpLimits` holds the numbers; :class:`Connections` admits connections under the caps,
answers ``503`` to the others without a thread, and cuts off those whose request overran its
deadline; :class:`HeadBudget` bounds a request's line and headers.
"""

from __future__ import annotations

import http.client
import math
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["MAX_BODY_BYTES", "Connections", "HeadBudget", "HttpLimits", "linger_close"]

MAX_BODY_BYTES = 64 * 1024
LINGER_S = 0.5  # at most this long reading what a client still sends after our last answer
REFUSED_MAX = 256  # refused connections waiting to be closed (their 503 sent)


@dataclass(frozen=True)
class HttpLimits:
    """What one hub's HTTP side holds at most; the defaults serve browsers and Prometheus."""

    max_connections: int = 64  # handler threads at once
    max_per_client: int = 16  # of those, from one client address
    read_timeout_s: float = 5.0  # one socket read or write
    deadline_s: float = 10.0  # one request, from the connection or the previous reply
    max_head_bytes: int = 16 * 1024  # request line and headers
    max_body_bytes: int = MAX_BODY_BYTES


_BUSY_BODY = b'{"error": "too many connections; retry later"}'
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
         + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY)


class HeadBudget:
    """A connection's rfile with a budget for each request's line and headers: a line that
    would overrun it raises LineTooLong (answered 414 or 431).  ``renew`` per request."""

    def __init__(self, raw: BinaryIO, budget: int) -> None:
        self._raw, self._budget, self.left = raw, budget, budget

    def renew(self) -> None:
        self.left = self._budget

    def readline(self, limit: int = -1) -> bytes:
        cap = self.left + 1 if limit < 0 else min(limit, self.left + 1)
        line = self._raw.readline(cap)
        self.left -= len(line)
        if self.left < 0:
            raise http.client.LineTooLong(f"request head over {self._budget} bytes")
        return line

    def read(self, size: int = -1) -> bytes:
        return self._raw.read(size)

    def close(self) -> None:
        self._raw.close()


class Connections:
    """The connections being served: admitted under the caps, cut off past their deadline."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._open: dict[socket.socket, tuple[str, float]] = {}  # -> (client, request began)
        self._refused: deque[tuple[socket.socket, float]] = deque()  # accepting thread only
        self.refused_total = 0
        self.cut_total = 0

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, sock: socket.socket, client: str) -> bool:
        """Take sock under the caps (True), or answer it 503 and queue it to close (False)."""
        with self._lock:
            mine = sum(1 for who, _ in self._open.values() if who == client)
            if len(self._open) < self.limits.max_connections and \
                    mine < self.limits.max_per_client:
                self._open[sock] = (client, time.monotonic())
                return True
            self.refused_total += 1
        self._refuse(sock)
        return False

    def _refuse(self, sock: socket.socket) -> None:
        """Send 503 without blocking; close a little later (close_refused), so the client's
        request can arrive and be read first: closing on unread input is a reset, which can
        destroy the 503 before the client reads it."""
        sock.setblocking(False)
        try:
            sock.send(_BUSY)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the client is gone already
            pass
        if len(self._refused) >= REFUSED_MAX:
            self._refused.popleft()[0].close()
        self._refused.append((sock, time.monotonic()))

    def close_refused(self, all_of_them: bool = False) -> None:
        """Close the refused connections that have had LINGER_S, reading what they sent."""
        now = time.monotonic()
        while self._refused and (all_of_them or now - self._refused[0][1] >= LINGER_S):
            sock = self._refused.popleft()[0]
            try:
                while sock.recv(65536):
                    pass
            except OSError:  # nothing more to read (or a reset): close now
                pass
            sock.close()

    def started(self, sock: socket.socket) -> None:
        """A request begins on sock (the first, or the next on a kept-alive connection)."""
        with self._lock:
            if sock in self._open:
                self._open[sock] = (self._open[sock][0], time.monotonic())

    def release(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.pop(sock, None)

    def cut_overdue(self) -> None:
        """Shut down connections whose request began more than deadline_s ago; their threads
        see the end of the stream and finish."""
        now = time.monotonic()
        with self._lock:
            overdue = [sock for sock, (_, began) in self._open.items()
                       if now - began > self.limits.deadline_s]
            for sock in overdue:
                self._open[sock] = (self._open[sock][0], math.inf)  # cut once
            self.cut_total += len(overdue)
        for sock in overdue:
            _shutdown(sock)

    def cut_all(self) -> None:
        self.close_refused(all_of_them=True)
        with self._lock:
            every = list(self._open)
        for sock in every:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already gone
        pass


def linger_close(sock: socket.socket) -> None:
    """Close after the client's end of stream (or LINGER_S): closing with unread input sends
    a reset, which can destroy our last answer (a 413, 414, 431) before the client reads it."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(LINGER_S / 5)
        deadline = time.monotonic() + LINGER_S
        while time.monotonic() < deadline and sock.recv(65536):
            pass
    except OSError:  # the client is gone, or quiet: close now
        pass
    sock.close()
