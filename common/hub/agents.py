"""An echo agent that reports to the hubs named in its settings, for tests and benchmarks.

``mesh agent run common.hub.agents:HubEchoAgent --settings '{"hubs": [HOME, OTHER]}'``
"""

from __future__ import annotations

from typing import Any

from common.hub.link import hub_link
from common.testing.agents import EchoAgent

__all__ = ["HubEchoAgent"]


class HubEchoAgent(EchoAgent):
    """EchoAgent plus a HubLink to ``settings["hubs"]`` (home first)."""

    def __init__(self, name: str, endpoint: str = "tcp://127.0.0.1:0", **kwargs: Any) -> None:
        hubs = list((kwargs.get("settings") or {}).get("hubs", []))
        links = [*kwargs.pop("links", ()), *([hub_link(hubs)] if hubs else [])]
        super().__init__(name, endpoint, links=links, **kwargs)
