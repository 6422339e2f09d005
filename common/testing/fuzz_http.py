"""Hostile HTTP for the hub's port: random request lines, oversized heads, bad and truncated
bodies, pipelined floods, and slow clients that hold connections open.

:func:`hostile_requests` yields ``(bytes, must_answer)``; :func:`http_barrage` sends each on a
connection of its own, half-closes it, and tallies the status codes (``0``: no answer).  A
request marked ``must_answer`` is complete and well-framed, so a server that drops it without
a status line has failed.  :func:`slow_clients` opens connections that send half a request.
"""

from __future__ import annotations

import json
import random
import socket
from collections import Counter
from collections.abc import Iterable, Iterator

__all__ = ["http_barrage", "hostile_requests", "request_status", "slow_clients"]

_PATHS = ("/api/health", "/metrics", "/api/alerts", "/", "/index.html", "/../../etc/passwd",
          "/%00", "/api/health?x=" + "y" * 500, "/api/alerts/silence", "/nope")
_POSTS = ("/api/alerts/silence", "/api/alerts/ack")


def _bodies(rng: random.Random) -> bytes:
    return rng.choice([
        rng.randbytes(rng.randint(1, 300)), b"[" * 20_000, b'{"a": ' * 3000, b"null", b"[]",
        json.dumps({"matchers": [1, 2]}).encode(), json.dumps({"matchers": {"a": 1}}).encode(),
        json.dumps({"matchers": {"agent": "x"}, "duration_s": "soon"}).encode(),
        json.dumps({"matchers": {"agent": "x"}, "duration_s": 1e308}).encode(),
        json.dumps({"fingerprint": {"k": []}}).encode(), json.dumps({"fingerprint": "f"}).encode(),
        "{\"comment\": \"\u202e\U0001f4a5\"}".encode(), b"\xff\xfe{}",
    ])


def _post(rng: random.Random, token: str) -> tuple[bytes, bool]:
    body = _bodies(rng)
    auth = rng.choice([f"Bearer {token}", f"Bearer {token}x", "Basic Zm9v", ""])
    length = rng.choice([str(len(body)), str(len(body) + 50), "-5", "abc", str(10**12),
                         str(1 << 20)])
    head = (f"POST {rng.choice(_POSTS)} HTTP/1.1\r\nHost: hub\r\nContent-Length: {length}\r\n"
            + (f"Authorization: {auth}\r\n" if auth else "") + "\r\n").encode()
    return head + body, True


def _request(rng: random.Random, token: str) -> tuple[bytes, bool]:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randbytes(rng.randint(1, 600)), False
    if kind == 1:
        method = rng.choice(["GET", "BREW", "DELETE", "G\x00T", "", "OPTIONS"])
        version = rng.choice(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/9.9", "", "HTTP/1.1 x"])
        return f"{method} {rng.choice(_PATHS)} {version}\r\nHost: x\r\n\r\n".encode(), False
    if kind == 2:
        headers = "".join(f"X-{i}: {'v' * 200}\r\n" for i in range(rng.randint(90, 400)))
        return f"GET /api/health HTTP/1.1\r\n{headers}\r\n".encode(), True
    if kind == 3:
        return f"GET /{'a' * rng.randint(17_000, 70_000)} HTTP/1.1\r\n\r\n".encode(), True
    if kind == 4:
        return b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n" * rng.randint(2, 30), True
    if kind == 5:
        return f"GET {rng.choice(_PATHS)} HTTP/1.1\r\nHost: x\r\nCookie: {'c' * 4000}\r\n"\
               f"Authorization: Bearer \x7f\r\n\r\n".encode(), True
    return _post(rng, token)


def hostile_requests(count: int, seed: int = 0, token: str = "") -> Iterator[tuple[bytes, bool]]:
    """count hostile requests; a quarter carry the right bearer token, so bodies get parsed."""
    rng = random.Random(seed)
    for _ in range(count):
        yield _request(rng, token)


def request_status(address: tuple[str, int], data: bytes, timeout_s: float = 3.0,
                   source: str = "") -> int:
    """Send data on a new connection, half-close it, read the answer: its status, 0 if none."""
    head = b""
    with socket.socket() as sock:
        sock.settimeout(timeout_s)
        if source:
            sock.bind((source, 0))
        try:
            sock.connect(address)
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            head = sock.recv(64)
            while sock.recv(65536):  # the rest, up to the server's close
                pass
        except OSError:  # reset, or a timeout: whatever status line came first counts
            pass
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") and \
        parts[1].isdigit() else 0


def http_barrage(address: tuple[str, int], requests: Iterable[tuple[bytes, bool]]
                 ) -> tuple[Counter[int], int]:
    """Send every request; returns (status -> count, requests that had to be answered and
    were not)."""
    statuses: Counter[int] = Counter()
    unanswered = 0
    for data, must_answer in requests:
        status = request_status(address, data)
        statuses[status] += 1
        unanswered += must_answer and status == 0
    return statuses, unanswered


def slow_clients(address: tuple[str, int], count: int, timeout_s: float = 3.0
                 ) -> list[socket.socket]:
    """count connections that each send half a request and then nothing: the caller reads
    (a 503 over the cap, or the end of the stream when the server cuts them) and closes."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(address, timeout=timeout_s)
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: slow\r\nX-Drip: ")
        socks.append(sock)
    return socks
