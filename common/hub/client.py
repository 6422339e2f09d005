"""Clients of the hub: launchers push process events; ``mesh health`` reads the mesh's health.

Both try the home hub first and the other hub second, each call with its own deadline.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Sequence
from typing import Any

import zmq

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.hub.protocol import (
    ACTION_ALERTS,
    ACTION_EVENT,
    ACTION_EVENTS_QUERY,
    ACTION_PROCESS_EVENTS,
    ACTION_SNAPSHOT,
    ProcessEvent,
)

__all__ = ["EVENT_BATCH_MAX", "EVENT_QUEUE_MAX", "HubEventClient", "HubReader",
           "ProcessEventClient"]

log = logging.getLogger(__name__)

EVENT_TIMEOUT_S = 0.5
EVENT_QUEUE_MAX = 1000
EVENT_BATCH_MAX = 256  # process events a request at most
READ_TIMEOUT_S = 2.0


class ProcessEventClient:
    """For launchers: ``push(agent, pid, event, code)``, or ``add`` several then ``flush()``.
    Never raises for an unreachable hub: events no hub acknowledged stay queued (bounded,
    oldest dropped and counted) and go first on the next flush, up to EVENT_BATCH_MAX a
    request.  Blocks at most EVENT_TIMEOUT_S per hub tried."""

    def __init__(self, endpoints: Sequence[str], host: str, *, ctx: zmq.Context | None = None,
                 timeout_s: float = EVENT_TIMEOUT_S) -> None:
        self.endpoints = [e for e in endpoints if e]
        self.host = host
        self.timeout_s = timeout_s
        self.queue: deque[dict[str, Any]] = deque()
        self.dropped_total = 0
        self.index = 0
        self._client = Client(None, ctx=ctx, source=f"launcher@{host}",
                              breaker_threshold=1_000_000)

    def push(self, agent: str, pid: int, event: ProcessEvent | str, code: int | None = None,
             ts: float | None = None) -> bool:
        """Queue one event and send what is queued; True if everything was acknowledged."""
        self.add(agent, pid, event, code, ts)
        return self.flush()

    def add(self, agent: str, pid: int, event: ProcessEvent | str, code: int | None = None,
            ts: float | None = None) -> None:
        """Queue one event for the next flush; ValueError on an unknown event."""
        ProcessEvent(event)
        if len(self.queue) >= EVENT_QUEUE_MAX:
            self.queue.popleft()
            self.dropped_total += 1
        self.queue.append({"host": self.host, "agent": agent, "pid": pid, "event": str(event),
                           "code": code, "ts": ts if ts is not None else time.time()})

    def flush(self) -> bool:
        while self.queue:
            batch = list(itertools.islice(self.queue, EVENT_BATCH_MAX))
            if not self._send(batch):
                return False
            for _ in batch:
                self.queue.popleft()
        return True

    def _send(self, events: list[dict[str, Any]]) -> bool:
        for _ in range(len(self.endpoints)):
            endpoint = self.endpoints[self.index]
            try:
                self._client.call_endpoint(endpoint, ACTION_PROCESS_EVENTS,
                                           {"events": events, "failover": self.index != 0},
                                           timeout_s=self.timeout_s, retries=0)
                return True
            except MeshError as exc:
                log.warning("hub %s did not take %d process event(s): %s", endpoint,
                            len(events), exc)
                self.index = (self.index + 1) % len(self.endpoints)
        return False

    def close(self) -> None:
        self._client.close()


class HubEventClient:
    """For tools and services that add to the hubs' incident history (``hub_event``: the
    migration executor's steps, the VRAM pool's evictions): ``send(kind, summary, ...)``.
    Never raises for an unreachable hub and blocks at most EVENT_TIMEOUT_S per hub tried; when
    no hub answered, events wait in a bounded queue (oldest dropped and counted) and nothing is
    tried for RETRY_S, so a tool whose hubs are down is not slowed at every line."""

    RETRY_S = 5.0

    def __init__(self, endpoints: Sequence[str], source: str, *,
                 ctx: zmq.Context | None = None, timeout_s: float = EVENT_TIMEOUT_S,
                 retry_s: float = RETRY_S) -> None:
        self.endpoints = [e for e in endpoints if e]
        self.timeout_s = timeout_s
        self.retry_s = retry_s
        self.queue: deque[dict[str, Any]] = deque(maxlen=EVENT_QUEUE_MAX)
        self.dropped_total = 0
        self._retry_at = 0.0
        self._client = Client(None, ctx=ctx, source=source, breaker_threshold=1_000_000)

    def send(self, kind: str, summary: str, *, agent: str = "", host: str = "",
             detail: dict[str, Any] | None = None) -> bool:
        """Queue one event and send what is queued; True if every one was taken."""
        if len(self.queue) == self.queue.maxlen:
            self.dropped_total += 1
        self.queue.append({"kind": kind, "summary": summary, "agent": agent, "host": host,
                           "detail": detail or {}, "ts": time.time()})
        return self.flush()

    def flush(self) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        while self.queue:
            if not self._send(self.queue[0]):
                self._retry_at = time.monotonic() + self.retry_s
                return False
            self.queue.popleft()
        return True

    def _send(self, event: dict[str, Any]) -> bool:
        for endpoint in self.endpoints:
            try:
                self._client.call_endpoint(endpoint, ACTION_EVENT, event,
                                           timeout_s=self.timeout_s, retries=0)
                return True
            except MeshError as exc:
                log.debug("hub %s did not take a %s event: %s", endpoint, event["kind"], exc)
        return False

    def close(self) -> None:
        self._client.close()


class HubReader:
    """Reads ``/api/health``, ``/api/alerts`` and ``/api/events`` from the first hub that
    answers.

    ``http://`` URLs are read over HTTP, ``tcp://`` ones over the hub protocol; the CLI finds
    them in the startup config (``common.cli.locate``)."""

    def __init__(self, urls: Sequence[str],
                 timeout_s: float = READ_TIMEOUT_S) -> None:
        self.urls = list(urls)
        self.timeout_s = timeout_s

    def health(self) -> dict[str, Any]:
        return self._first("/api/health", ACTION_SNAPSHOT)

    def alerts(self) -> dict[str, Any]:
        return self._first("/api/alerts", ACTION_ALERTS)

    def events(self, query: dict[str, Any]) -> dict[str, Any]:
        """The event log: query holds since, until, agent, host, kind, limit (None: unset)."""
        params = {k: v for k, v in query.items() if v is not None}
        return self._first("/api/events?" + urllib.parse.urlencode(params),
                           ACTION_EVENTS_QUERY, params)

    def _first(self, path: str, action: str,
               payload: dict[str, Any] | None = None) -> dict[str, Any]:
        errors = []
        for url in self.urls:
            try:
                return self._read(url, path, action, payload or {})
            except (OSError, ValueError, MeshError) as exc:
                errors.append(f"{url}: {exc}")
        raise ConnectionError("no hub answered: " + "; ".join(errors))

    def _read(self, url: str, path: str, action: str,
              payload: dict[str, Any]) -> dict[str, Any]:
        if url.startswith("tcp://"):
            client = Client(None, source="mesh-health")
            try:
                return client.call_endpoint(url, action, payload, timeout_s=self.timeout_s,
                                            retries=0)
            finally:
                client.close()
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=self.timeout_s) as resp:
            return json.loads(resp.read())
