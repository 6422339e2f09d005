"""Alert notifications: one JSON line per notice in a log file, and an optional webhook.

The webhook is posted from one worker thread with a bounded queue and a per-post timeout, so a
slow receiver never stalls the hub's loop; notices that do not fit are dropped and counted.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.request
from typing import Any

__all__ = ["WEBHOOK_TIMEOUT_S", "Fanout", "Notifier"]

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 2.0
QUEUE_MAX = 100


class Notifier:
    def __init__(self, log_path: str | None = None, webhook_url: str | None = None) -> None:
        self.log_path = log_path
        self.webhook_url = webhook_url
        self.sent_total = 0
        self.dropped_total = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_MAX)
        self._thread: threading.Thread | None = None
        if webhook_url:
            self._thread = threading.Thread(target=self._post_loop, name="hub-webhook",
                                            daemon=True)
            self._thread.start()

    def send(self, notice: dict[str, Any]) -> None:
        log.warning("alert %s %s: %s", notice["status"], notice["fingerprint"],
                    notice["description"])
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(notice, sort_keys=True) + "\n")
        self.sent_total += 1
        if self._thread is not None:
            try:
                self._queue.put_nowait(notice)
            except queue.Full:
                self.dropped_total += 1

    def _post_loop(self) -> None:
        while (notice := self._queue.get()) is not None:
            request = urllib.request.Request(
                str(self.webhook_url), data=json.dumps(notice).encode(), method="POST",
                headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S).close()
            except OSError as exc:
                log.warning("webhook %s failed: %s", self.webhook_url, exc)

    def close(self, timeout_s: float = WEBHOOK_TIMEOUT_S) -> None:
        if self._thread is not None:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
            self._thread.join(timeout_s)


class Fanout:
    """One alert sink that hands each notice to several (the notifier, the event log)."""

    def __init__(self, *sinks: Any) -> None:
        self.sinks = sinks

    def send(self, notice: dict[str, Any]) -> None:
        for sink in self.sinks:
            sink.send(notice)
