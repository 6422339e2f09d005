"""Which holders died: the registry's view of live instances, read from the manager's loop.

A holder seen registered and then gone (deregistered at a graceful stop, or expired by the
registry after 3 missed heartbeats, e.g. ``kill -9``) has died.  Another event source (the
launcher's process events) calls ``VramPool.reclaim`` directly, through ``holder_exited``.
"""

from __future__ import annotations

import logging
import threading

import zmq

from common.base_agent.discovery import RegistryView

__all__ = ["HolderWatch"]

log = logging.getLogger(__name__)


class HolderWatch:
    def __init__(self, registry: str, ctx: zmq.Context) -> None:
        self._changed = threading.Event()
        self._view = RegistryView(registry, ctx=ctx, on_change=lambda _: self._changed.set())
        self._seen: set[str] = set()
        self._started = False

    def start(self, timeout_s: float = 5.0) -> None:
        self._view.start(timeout_s)
        self._started = True
        self._changed.set()

    def dead(self, holders: set[str]) -> set[str]:
        """Instance ids among holders that were registered and no longer are."""
        if not self._started or not self._changed.is_set():
            return set()
        self._changed.clear()
        live = set(list(self._view.instances))
        self._seen |= live & holders
        gone = (self._seen & holders) - live
        self._seen -= gone
        return gone

    def watch(self, instance_id: str) -> None:
        """A new holder: look at the view again (it may be registered already)."""
        self._changed.set()

    def stop(self) -> None:
        if self._started:
            self._view.stop()
