"""Re-learning what the launchers know: a hub that (re)starts asks every host's launcher for
its ``status`` (restart counts, states, exit codes, recent process events) instead of starting
from zero, and asks again every RELEARN_EVERY_S so that a count it missed is corrected.

The launchers' control endpoints come from the host plan (``settings.launchers``).  The calls
run in a thread of their own, each with a deadline, so a launcher that is down never stalls
the hub's loop; each answer is handed to ``apply(host, status)``, which takes the hub's lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from common.base_agent.client import Client
from common.base_agent.errors import MeshError

__all__ = ["RELEARN_EVERY_S", "Relearner"]

log = logging.getLogger(__name__)

RELEARN_EVERY_S = 30.0
RETRY_S = 1.0  # a launcher that did not answer yet is asked again this soon
CALL_TIMEOUT_S = 1.0

Apply = Callable[[str, dict[str, Any]], None]


class Relearner:
    def __init__(self, launchers: Mapping[str, str], apply: Apply, source: str,
                 every_s: float = RELEARN_EVERY_S) -> None:
        self.launchers = dict(launchers)  # host -> launcher control endpoint
        self.apply = apply
        self.source = source
        self.every_s = every_s
        self.learned: dict[str, float] = {}  # host -> how many times it answered
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-relearn", daemon=True)

    def start(self) -> None:
        if self.launchers:
            self._thread.start()

    def _run(self) -> None:
        with Client(None, source=self.source, breaker_threshold=2**31) as client:
            while not self._stop.is_set():
                waiting = [h for h in self.launchers if not self._ask(client, h)]
                self._stop.wait(RETRY_S if waiting else self.every_s)

    def _ask(self, client: Client, host: str) -> bool:
        try:
            status = client.call_endpoint(self.launchers[host], "status", {},
                                          timeout_s=CALL_TIMEOUT_S, retries=0,
                                          peer=f"the launcher of {host}")
        except MeshError as exc:
            log.debug("launcher of %s did not answer: %s", host, exc)
            return host in self.learned  # known before: wait the full interval
        try:
            self.apply(host, status)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("launcher of %s: unexpected status %r", host, exc)
            return False
        self.learned[host] = self.learned.get(host, 0) + 1
        return True

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(CALL_TIMEOUT_S * (len(self.launchers) + 1))
