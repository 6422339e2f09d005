"""Links: outbound connections an agent keeps up from its own loop (registry, hub).

A link owns one DEALER (or other) socket that may be replaced on reconnect; the agent polls
whatever ``socket`` currently is, calls ``tick`` every loop turn and ``on_readable`` when it has
input, asks it for a health check, and closes it at stop.  Links are injected as factories
(``common.base_agent.agent.LinkFactory``) so that an agent gains a hub link, say, without
inheriting anything.
"""

from __future__ import annotations

from typing import Protocol

import zmq

from common.base_agent.health import CheckResult

__all__ = ["Link"]


class Link(Protocol):
    name: str

    @property
    def socket(self) -> zmq.Socket: ...

    def tick(self) -> None: ...

    def due_in_s(self) -> float: ...  # when tick has work next; the loop may sleep till then

    def on_readable(self) -> None: ...

    def check(self) -> CheckResult: ...

    def close(self, graceful: bool) -> None: ...
