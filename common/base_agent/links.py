"""Links: outbound connections an agent keeps up from its own loop (registry, hub).

A link owns one DEALER (or other) socket that may be replaced on reconnect; the agent polls
whatever ``socket`` currently is, calls ``tick`` every loop turn and ``on_readable`` when it has
input, asks it for a health check, and closes it at stop.  Links are injected as factories so
that an agent gains a hub link, say, without inheriting anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import zmq

from common.base_agent.health import CheckResult

if TYPE_CHECKING:
    from common.base_agent.agent import BaseAgent

__all__ = ["Link", "LinkFactory"]


class Link(Protocol):
    name: str

    @property
    def socket(self) -> zmq.Socket: ...

    def tick(self) -> None: ...

    def due_in_s(self) -> float: ...  # when tick has work next; the loop may sleep till then

    def on_readable(self) -> None: ...

    def check(self) -> CheckResult: ...

    def close(self, graceful: bool) -> None: ...


LinkFactory = Callable[[zmq.Context, "BaseAgent"], Link]
