"""Sending the hub's alerts to a real Alertmanager (``POST /api/v2/alerts``).

Alertmanager expects its clients to post every firing alert again and again (Prometheus does
so every minute) and resolves an alert that stops coming after its ``resolve_timeout``; a
resolved alert is posted once with ``endsAt``.  The hub's loop hands over the set of firing,
unsilenced alerts after each evaluation (``update``, which never blocks); one worker thread
posts when the set changed and every ``resend_every_s``, each POST with a timeout.  A passive
hub hands over ``None``: it posts nothing, and the active hub owns the alerts.  Resolved alerts
whose POST failed are posted again with the next batch.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from datetime import datetime, timezone
from typing import Any

from common.config.history import AlertmanagerConfig

__all__ = ["API_PATH", "AlertmanagerSink", "am_alert"]

log = logging.getLogger(__name__)

API_PATH = "/api/v2/alerts"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def am_alert(alert: dict[str, Any], hub: str, url: str, ends_at: float | None = None
             ) -> dict[str, Any]:
    """One alert of the hub's ``/api/alerts`` in Alertmanager's postable form."""
    labels = {"alertname": alert["alertname"], "severity": alert["severity"],
              **{k: str(v) for k, v in alert["labels"].items()}}
    body = {"labels": labels,
            "annotations": {"summary": alert["summary"], "description": alert["description"],
                            "hub": hub},
            "startsAt": _iso(float(alert.get("firing_since") or time.time())),
            "generatorURL": f"{url}/#alert={alert['fingerprint']}" if url else ""}
    if ends_at is not None:
        body["endsAt"] = _iso(ends_at)
    return body


class AlertmanagerSink:
    def __init__(self, config: AlertmanagerConfig, hub: str, hub_url: str = "") -> None:
        self.config = config
        self.hub = hub
        self.hub_url = hub_url
        self.posts_total = 0
        self.failures_total = 0
        self._firing: dict[str, dict[str, Any]] | None = None  # fingerprint -> alert
        self._posted: dict[str, dict[str, Any]] = {}  # what Alertmanager holds as firing
        self._resolved: dict[str, dict[str, Any]] = {}  # to post with endsAt
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="hub-alertmanager", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def update(self, firing: list[dict[str, Any]] | None) -> None:
        """The firing, unsilenced alerts now; None while this hub is not the active one."""
        new = None if firing is None else {a["fingerprint"]: a for a in firing}
        with self._lock:
            if new is not None and (self._firing is None or new.keys() != self._firing.keys()):
                self._changed.set()
            self._firing = new

    def _run(self) -> None:
        next_at = 0.0
        while not self._stop.is_set():
            self._changed.wait(max(0.0, next_at - time.monotonic()))
            if self._stop.is_set():
                return
            self._changed.clear()
            if self._post_round():
                next_at = time.monotonic() + self.config.resend_every_s
            else:
                next_at = time.monotonic() + min(self.config.resend_every_s, 5.0)

    def _post_round(self) -> bool:
        with self._lock:
            if self._firing is None:  # passive: the active hub posts
                self._posted, self._resolved = {}, {}
                return True
            firing = dict(self._firing)
            now = time.time()
            for fingerprint, alert in self._posted.items():
                if fingerprint not in firing:
                    self._resolved[fingerprint] = am_alert(alert, self.hub, self.hub_url, now)
            for fingerprint in firing:
                self._resolved.pop(fingerprint, None)
            self._posted = firing
            batch = [am_alert(a, self.hub, self.hub_url) for a in firing.values()]
            batch += list(self._resolved.values())
        if not batch:
            return True
        if self._post(batch):
            with self._lock:
                for body in batch:
                    if "endsAt" in body:
                        self._resolved = {k: v for k, v in self._resolved.items() if v != body}
            return True
        return False

    def _post(self, batch: list[dict[str, Any]]) -> bool:
        request = urllib.request.Request(
            self.config.url + API_PATH, data=json.dumps(batch).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=self.config.timeout_s).close()
        except OSError as exc:  # URLError, HTTPError, timeouts: all OSError
            self.failures_total += 1
            log.warning("alertmanager %s did not take %d alerts: %s", self.config.url,
                        len(batch), exc)
            return False
        self.posts_total += 1
        return True

    def close(self, timeout_s: float | None = None) -> None:
        self._stop.set()
        self._changed.set()
        if self._thread.is_alive():
            self._thread.join(self.config.timeout_s if timeout_s is None else timeout_s)
