"""Agents of other hosts, found through the registry from a thread of their own.

A dependency on another host is ready when the registry lists it and its health answers; the
lookups run here so that the launcher's loop never blocks on a registry that is not up yet.
"""

from __future__ import annotations

import logging
import threading

from common.base_agent import protocol
from common.base_agent.client import Client
from common.base_agent.errors import MeshError

__all__ = ["RemoteLookup"]

log = logging.getLogger(__name__)


class RemoteLookup:
    def __init__(self, registry: str | None, names: set[str], interval_s: float = 0.1) -> None:
        self.registry = registry
        self.names = set(names)
        self.interval_s = interval_s
        self.endpoints: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.names or not self.registry:
            return
        self._thread = threading.Thread(target=self._run, name="remote-lookup", daemon=True)
        self._thread.start()

    def forget(self, name: str) -> None:
        """The endpoint stopped answering: look it up again."""
        self.endpoints.pop(name, None)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def _run(self) -> None:
        # The registry may not be up yet: keep asking, no circuit breaker.
        with Client(self.registry, source="launcher", breaker_threshold=2**31) as client:
            while not self._stop.wait(self.interval_s):
                for name in sorted(self.names - set(self.endpoints)):
                    self._lookup(client, name)

    def _lookup(self, client: Client, name: str) -> None:
        try:
            found = client.call_registry(protocol.ACTION_LOOKUP, {"name": name}, timeout_s=0.5,
                                         retries=0)
        except MeshError:
            return
        if found:
            self.endpoints[name] = found[0]["endpoint"]
            log.info("found %s on another host at %s", name, found[0]["endpoint"])
