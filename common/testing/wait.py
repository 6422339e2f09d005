"""Waiting with a deadline: poll a condition, never sleep a fixed time as synchronisation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_registered", "wait_until"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T | None], timeout_s: float, interval_s: float = 0.005,
               what: str = "condition") -> T:
    """Return predicate()'s first truthy value; raise TimeoutError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not met within {timeout_s:g} s")
        time.sleep(interval_s)


def wait_registered(client, name: str, timeout_s: float = 10.0) -> list[dict]:  # type: ignore[no-untyped-def]
    """Wait until the registry behind client lists a live instance of name; returns them."""
    from common.base_agent.protocol import ACTION_LOOKUP

    def found() -> list[dict]:
        return client.call_registry(ACTION_LOOKUP, {"name": name})

    return wait_until(found, timeout_s, interval_s=0.02, what=f"{name} registered")
