"""Is the other host there?  A launcher's background view of every other host.

Every ``failover.probe_interval_s`` it asks each other launcher for ``failover_status`` (the
answer is the liveness signal and says which guests that launcher runs) and asks the registry
pair which instances are live: a host counts as alive in the registry while any instance at
its address is listed.  ``silence_s(host)`` (launcher) and ``registry_silence_s(host)`` are
what common.launcher.failover judges by; both count from the launcher's own start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import zmq

from common.base_agent.client import Client
from common.base_agent.errors import MeshError

__all__ = ["ACTION_STATUS", "HostWatch"]

log = logging.getLogger(__name__)

ACTION_STATUS = "failover_status"


class HostWatch:
    def __init__(self, launchers: Mapping[str, str], addresses: Mapping[str, str],
                 registry: str | None, interval_s: float, host: str) -> None:
        """launchers: each other host's launcher endpoint; addresses: each host's address;
        host: our own (named in every probe, so the other side hears us too)."""
        self.launchers = dict(launchers)
        self.addresses = dict(addresses)
        self.registry = registry
        self.interval_s = interval_s
        self.host = host
        self.source = f"launcher-{host}"
        start = time.monotonic()
        self.heard_at = dict.fromkeys(self.launchers, start)
        self.back_since: dict[str, float | None] = dict.fromkeys(self.launchers, None)
        self.seen_in_registry_at = dict.fromkeys(self.launchers, start)
        self.status: dict[str, dict[str, Any]] = {}
        self.leaving: set[str] = set()  # hosts stopped on purpose (mesh down): no failover
        self._leaving = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.launchers:
            self._thread = threading.Thread(target=self._run, name="host-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)

    def silence_s(self, host: str) -> float:
        return time.monotonic() - self.heard_at[host]

    def registry_silence_s(self, host: str) -> float:
        return time.monotonic() - self.seen_in_registry_at[host]

    def heard(self, host: str, leaving: bool = False) -> None:
        """host's launcher asked us something: it is there (called from the loop thread, as
        the failover decisions are, so a probe that arrives first prevents an adoption);
        ``leaving``: it is stopping on purpose, and is not to be failed over until back."""
        if host in self.heard_at:
            self.heard_at[host] = time.monotonic()
            if leaving:
                log.info("launcher of %s is stopping (planned): no failover", host)
                self.leaving.add(host)
            else:
                self.leaving.discard(host)

    def announce_leaving(self, timeout_s: float = 0.5) -> None:
        """Tell every other launcher we stop on purpose (bounded; best effort)."""
        self._leaving = True  # and say so in every probe from now on
        with Client(None, source=self.source) as client:
            for host, endpoint in self.launchers.items():
                try:
                    client.call_endpoint(endpoint, ACTION_STATUS,
                                         {"host": self.host, "leaving": True},
                                         timeout_s=timeout_s, retries=0)
                except MeshError:
                    log.info("launcher of %s not told of our stop (silent)", host)

    def back_for_s(self, host: str) -> float:
        """How long host's launcher has answered without a gap (0 while silent)."""
        since = self.back_since[host]
        return 0.0 if since is None else time.monotonic() - since

    def guests(self, host: str) -> dict[str, str]:
        """What host's launcher last said it runs for other hosts: name -> state."""
        return dict(self.status.get(host, {}).get("guests", {}))

    def _run(self) -> None:
        ctx = zmq.Context()
        client = Client(self.registry, ctx=ctx, source=self.source, breaker_threshold=2**31)
        try:
            while not self._stop.wait(self.interval_s):
                for host, endpoint in self.launchers.items():
                    self._probe(client, host, endpoint)
                self._look_up(client)
        finally:
            client.close()
            ctx.destroy(linger=0)

    def _probe(self, client: Client, host: str, endpoint: str) -> None:
        now = time.monotonic()
        try:
            self.status[host] = client.call_endpoint(endpoint, ACTION_STATUS,
                                                     {"host": self.host, "leaving": self._leaving},
                                                     timeout_s=self.interval_s, retries=0)
        except MeshError:
            if self.back_since[host] is not None:
                log.warning("launcher of %s silent", host)
            self.back_since[host] = None
            return
        if self.back_since[host] is None:
            log.info("launcher of %s answers", host)
            self.back_since[host] = now
        self.heard_at[host] = now

    def _look_up(self, client: Client) -> None:
        if not self.registry:
            return
        try:
            live = client.call_registry("list", timeout_s=self.interval_s * 2, retries=0)
        except MeshError:
            return
        now = time.monotonic()
        hosts = {record.get("host") for record in live}
        for host in self.seen_in_registry_at:
            if self.addresses.get(host) in hosts:
                self.seen_in_registry_at[host] = now
