"""Where the launcher's process events go: the hub (crash known at once, not only when
heartbeats stop) and the ModelManagerAgent (a dead holder's VRAM leases reclaimed at once).

Delivery runs in a thread of its own behind a bounded queue, so a hub or manager that is slow
or down never stalls the launcher's loop; events beyond the bound are dropped and counted.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.hub.client import ProcessEventClient

__all__ = ["EVENT_QUEUE_MAX", "EventSink"]

log = logging.getLogger(__name__)

EVENT_QUEUE_MAX = 1000
EXIT_EVENTS = ("exited", "hung")


class EventSink:
    def __init__(self, host: str, hub_endpoints: list[str], manager_endpoint: str | None,
                 addresses: dict[str, str]) -> None:
        self.host = host
        self.hub_endpoints = hub_endpoints
        self.manager_endpoint = manager_endpoint
        self.addresses = addresses  # agent name -> its host's address (the holder's host)
        self.dropped_total = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(EVENT_QUEUE_MAX)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.hub_endpoints or self.manager_endpoint:
            self._thread = threading.Thread(target=self._run, name="launcher-events",
                                            daemon=True)
            self._thread.start()

    def put(self, event: dict[str, Any]) -> None:
        if self._thread is None:
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped_total += 1

    def stop(self, timeout_s: float = 1.0) -> None:
        """Deliver what is queued within timeout_s; a hub that is down already (the usual
        case at the end of `mesh down`) must not hold the launcher's exit."""
        if self._thread is not None:
            try:
                self._queue.put(None, timeout=timeout_s)
            except queue.Full:
                pass
            self._thread.join(timeout_s)

    def _run(self) -> None:
        hub = ProcessEventClient(self.hub_endpoints, self.host) if self.hub_endpoints else None
        manager = Client(source=f"launcher@{self.host}", breaker_threshold=2**31)
        try:
            stopping = False
            while not stopping:
                taken = self._take()
                stopping = taken[-1] is None
                events = [e for e in taken if e is not None]
                if hub is not None:  # what came meanwhile, in one request
                    for event in events:
                        hub.add(event["agent"], event.get("pid") or 0, event["event"],
                                event.get("code"), event.get("ts"))
                    hub.flush()
                for event in events:
                    if event["event"] in EXIT_EVENTS and event.get("pid"):
                        self._reclaim(manager, event)
        finally:
            manager.close()
            if hub is not None:
                hub.close()

    def _take(self) -> list[dict[str, Any] | None]:
        """The next event (waiting for it) and every one queued behind it; None: stop."""
        events = [self._queue.get()]
        while events[-1] is not None:
            try:
                events.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return events

    def _reclaim(self, manager: Client, event: dict[str, Any]) -> None:
        if not self.manager_endpoint:
            return
        try:
            manager.call_endpoint(
                self.manager_endpoint, "holder_exited",
                {"host": self.addresses.get(event["agent"], ""), "pid": event["pid"]},
                timeout_s=0.5, retries=0, peer="the model manager")
        except MeshError as exc:
            log.debug("model manager did not take the exit of %s: %s", event["agent"], exc)
