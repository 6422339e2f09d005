"""The hub's HTTP side is bounded: connections (in total and per client), request heads,
bodies, and the time one request may take; hostile requests all get a clear status."""

import json
import socket
import threading
import time

import pytest

from common.testing.fuzz_http import hostile_requests, http_barrage, request_status, slow_clients
from common.testing.wait import wait_until
from observability_hub.http import HttpFront, HttpLimits

pytestmark = pytest.mark.timeout(30)
TOKEN = "t0ken"
GET = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"


class Pages:
    """The hub's pages, as plain data; silence and ack check the body as the hub does."""

    def health_document(self):
        return {"status": "passing"}

    def alerts_document(self):
        return {"alerts": []}

    def metrics_text(self):
        return b"mesh_up 1\n"

    def dashboard_html(self):
        return b"<html></html>"

    def silence(self, body, by):
        if not all(isinstance(v, str) for v in body["matchers"].values()):
            raise ValueError("matchers must map to strings")
        return {"matchers": body["matchers"], "duration_s": float(body["duration_s"]), "by": by}

    def ack(self, body, by):
        raise KeyError(str(body["fingerprint"]))


@pytest.fixture
def front():
    made = []

    def start(**limits):
        server = HttpFront(Pages(), "127.0.0.1", 0, TOKEN, HttpLimits(**limits))
        server.start()
        made.append(server)
        return server, ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))

    yield start
    for server in made:
        server.close()


def post(path, body, token=TOKEN):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n").encode() + data


def test_oversized_heads_and_bodies_get_a_clear_4xx(front):
    _, address = front(max_head_bytes=4096, max_body_bytes=1024)
    assert request_status(address, f"GET /{'a' * 5000} HTTP/1.1\r\n\r\n".encode()) == 414
    headers = "".join(f"X-{i}: {'v' * 100}\r\n" for i in range(50))
    assert request_status(address, f"GET / HTTP/1.1\r\n{headers}\r\n".encode()) == 431
    big = post("/api/alerts/silence", {"matchers": {"a": "b" * 2000}, "duration_s": 5})
    assert request_status(address, big) == 413
    assert request_status(address, post("/api/alerts/silence", b"[" * 1000)) == 400
    assert request_status(address, post("/api/alerts/silence", {"matchers": [1]})) == 400
    ok = post("/api/alerts/silence", {"matchers": {"a": "b"}, "duration_s": 5})
    assert request_status(address, ok) == 200 and request_status(address, GET) == 200


def test_connection_caps_answer_503_and_spare_other_clients(front):
    server, address = front(max_connections=6, max_per_client=3)
    held = slow_clients(address, 3)
    try:
        wait_until(lambda: len(server._server.connections) == 3, 5, what="3 admitted")
        assert request_status(address, GET) == 503  # a 4th from 127.0.0.1
        assert request_status(address, GET, source="127.0.0.2") == 200
        held += [_slow_from(address, "127.0.0.2") for _ in range(3)]
        wait_until(lambda: len(server._server.connections) == 6, 5, what="6 admitted")
        assert request_status(address, GET, source="127.0.0.3") == 503  # the global cap
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: len(server._server.connections) == 0, 5, what="slow clients gone")
    assert request_status(address, GET) == 200
    assert server._server.connections.refused_total == 2


def _slow_from(address, source):
    sock = socket.socket()
    sock.settimeout(3)
    sock.bind((source, 0))
    sock.connect(address)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: slow\r\n")
    return sock


def test_a_flood_of_idle_connections_holds_at_most_the_cap_in_threads(front):
    server, address = front(max_connections=10, max_per_client=10)
    before = threading.active_count()
    held = [socket.create_connection(address, timeout=3) for _ in range(100)]
    try:
        wait_until(lambda: server._server.connections.refused_total == 90, 5,
                   what="90 refused")
        assert threading.active_count() - before <= 10
        assert request_status(address, GET, source="127.0.0.2") == 503  # full, for now
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: request_status(address, GET) == 200, 5, what="served again")


def _cut(sock):
    """True once the server has ended the connection (end of stream or reset)."""
    try:
        sock.sendall(b"X")
        return sock.recv(1, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:  # open, nothing to read
        return False
    except (BrokenPipeError, ConnectionResetError):
        return True


def test_a_slow_client_is_cut_off_at_the_deadline(front):
    server, address = front(deadline_s=1.0, read_timeout_s=5.0)
    sock = socket.create_connection(address, timeout=3)
    t0 = time.monotonic()
    try:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nX-Drip: ")
        # one header byte every 0.2 s: never idle long enough for the 5 s read timeout
        wait_until(lambda: _cut(sock), 4.0, interval_s=0.2, what="slow client cut off")
        cut_after = time.monotonic() - t0
    finally:
        sock.close()
    assert 1.0 <= cut_after <= 2.5, cut_after
    assert server._server.connections.cut_total == 1
    assert request_status(address, GET) == 200


def test_hostile_requests_are_all_answered_and_the_server_still_serves(front):
    _, address = front()
    statuses, unanswered = http_barrage(address, hostile_requests(400, seed=3, token=TOKEN))
    assert unanswered == 0, statuses
    assert not {500, 502, 503} & set(statuses), statuses
    assert {200, 400, 401, 413, 414, 431} <= set(statuses), statuses
    assert request_status(address, GET) == 200
