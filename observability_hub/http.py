"""The hub's HTTP side: ``/``, ``/metrics``, ``/api/health``, ``/api/alerts``,
``/api/series[?agent=NAME]`` (the charts' last hour),
``/api/events[?since=2h&agent=A&host=H&kind=K&limit=N]`` (the event log),
``/api/slo[?window=7d]`` (the SLO report and burn rates) and two
state-changing endpoints behind a bearer token::

    POST /api/alerts/silence  {"matchers": {"alertname": ..., "agent": ...}, "duration_s": N,
                               "comment": "..."}            -> the silence
    POST /api/alerts/ack      {"fingerprint": "..."}        -> the alert

Standard library only: a threading server in a daemon thread, bounded everywhere (the numbers
are :class:`~observability_hub.http_bounds.HttpLimits`; docs/PROTOCOL.md, "Bounded queues"):
at most ``max_connections`` connections are served at once (``max_per_client`` from one
address), more are answered ``503`` without a thread; every read or write times out after
``read_timeout_s``; a request (from the connection, or the previous reply) that is not answered
within ``deadline_s`` is cut off (slow clients); the request line and headers may take
``max_head_bytes`` (``414``/``431`` beyond) and a body ``max_body_bytes`` (``413``).
Without a configured token the state-changing endpoints answer 403.
"""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from common.base_agent.errors import MeshError
from common.config.fields import parse_duration
from observability_hub.http_bounds import (
    MAX_BODY_BYTES,
    Connections,
    HeadBudget,
    HttpLimits,
    linger_close,
)

__all__ = ["MAX_BODY_BYTES", "HttpFront", "HttpLimits", "HubPages"]

log = logging.getLogger(__name__)


class HubPages(Protocol):
    """What the HTTP side reads from the hub; every method is thread-safe."""

    def health_document(self) -> dict[str, Any]: ...

    def alerts_document(self) -> dict[str, Any]: ...

    def series_document(self, agent: str | None) -> dict[str, Any]: ...

    def slo_document(self, window_s: int | None) -> dict[str, Any]: ...

    def events_document(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def metrics_text(self) -> bytes: ...

    def dashboard_html(self) -> bytes: ...

    def silence(self, body: dict[str, Any], by: str) -> dict[str, Any]: ...

    def ack(self, body: dict[str, Any], by: str) -> dict[str, Any]: ...


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    rfile: Any  # a HeadBudget once set up
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms delayed ACK

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.read_timeout_s)
        self.rfile = HeadBudget(self.rfile, self.server.limits.max_head_bytes)

    def handle_one_request(self) -> None:
        self.server.connections.started(self.request)
        self.rfile.renew()
        try:
            super().handle_one_request()
        except http.client.LineTooLong:  # the request line itself (headers get a 431)
            self.requestline = self.request_version = self.command = ""
            self.send_error(414, f"request line over {self.server.limits.max_head_bytes} bytes")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("http %s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        pages = self.server.pages
        path, _, query = self.path.partition("?")
        if path == "/metrics":
            self._send(200, pages.metrics_text(), "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/api/health":
            self._json(200, pages.health_document())
        elif path == "/api/alerts":
            self._json(200, pages.alerts_document())
        elif path == "/api/series":
            agent = urllib.parse.parse_qs(query).get("agent", [None])[0]
            self._json(200, pages.series_document(agent))
        elif path == "/api/slo":
            self._slo(urllib.parse.parse_qs(query).get("window", [None])[0])
        elif path == "/api/events":
            self._events(query)
        elif path in ("/", "/index.html"):
            self._send(200, pages.dashboard_html(), "text/html; charset=utf-8")
        else:
            self._json(404, {"error": f"no page {path}"})

    def _slo(self, window: str | None) -> None:
        """``/api/slo[?window=7d]``: the SLO report and burn-rate state."""
        try:
            window_s = None if window is None else parse_duration(window)
        except ValueError as exc:
            return self._json(400, {"error": f"window: {exc}"})
        self._json(200, self.server.pages.slo_document(window_s))

    def _events(self, query: str) -> None:
        """``/api/events[?since=2h&agent=A&host=H&kind=K&limit=N]``: the event log."""
        try:
            params = dict(urllib.parse.parse_qsl(query, strict_parsing=bool(query)))
            self._json(200, self.server.pages.events_document(params))
        except (ValueError, MeshError) as exc:
            self._json(400, {"error": str(exc)})

    def do_POST(self) -> None:
        actions = {"/api/alerts/silence": self.server.pages.silence,
                   "/api/alerts/ack": self.server.pages.ack}
        action = actions.get(self.path)
        if action is None:
            return self._json(404, {"error": f"no endpoint {self.path}"})
        who = self._authorised()
        if who is None:
            return
        body = self._body()
        if body is None:
            return
        try:
            self._json(200, action(body, who))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:  # the body's shape
            self._json(400, {"error": f"bad request: {exc}"})

    def _authorised(self) -> str | None:
        token = self.server.token
        if not token:
            self._json(403, {"error": "state-changing endpoints need a token "
                                      "(settings api_token or MESH_HUB_TOKEN)"})
            return None
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            self._json(401, {"error": "missing or wrong bearer token"})
            return None
        return f"token@{self.client_address[0]}"

    def _body(self) -> dict[str, Any] | None:
        limit = self.server.limits.max_body_bytes
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= limit:
            self._json(413 if length > limit else 400,
                       {"error": f"body must be 1..{limit} bytes of JSON"})
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            body = None
        if not isinstance(body, dict):
            self._json(400, {"error": "body must be a JSON object"})
            return None
        return body

    def _json(self, code: int, data: Any) -> None:
        self._send(code, json.dumps(data, default=str).encode(), "application/json")

    def _send(self, code: int, data: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # close() cuts the connections instead of waiting for them
    allow_reuse_address = True
    request_queue_size = 128  # the listen backlog: a burst of connects waits, not SYN retries

    def __init__(self, address: tuple[str, int], pages: HubPages, token: str,
                 limits: HttpLimits) -> None:
        super().__init__(address, _Handler)
        self.pages, self.token, self.limits = pages, token, limits
        self.connections = Connections(limits)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.admit(request, client_address[0]):
            return  # answered 503; closed by service_actions
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connections.release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release(request)

    def shutdown_request(self, request: Any) -> None:
        linger_close(request)  # in the connection's own thread

    def service_actions(self) -> None:
        self.connections.cut_overdue()
        self.connections.close_refused()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # the client went away, or was cut off
            log.debug("http connection from %s ended: %s", client_address[0], exc)
        else:
            log.exception("http request from %s failed", client_address[0])

    def server_close(self) -> None:
        super().server_close()
        self.connections.cut_all()


class HttpFront:
    """Serves a hub's pages on host:port (port 0 picks a free one) from a daemon thread."""

    def __init__(self, pages: HubPages, host: str, port: int, token: str = "",
                 limits: HttpLimits | None = None) -> None:
        self._server = _Server((host, port), pages, token, limits or HttpLimits())
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.2}, name="hub-http",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
