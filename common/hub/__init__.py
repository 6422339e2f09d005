"""The hub protocol and its clients: agents' HubLink, launchers' events, ``mesh health``."""

from common.hub.client import HubReader, ProcessEventClient
from common.hub.link import HubLink, hub_link
from common.hub.protocol import ProcessEvent, Role
from common.hub.report import GaugeSource, build_report

__all__ = [
    "GaugeSource",
    "HubLink",
    "HubReader",
    "ProcessEvent",
    "ProcessEventClient",
    "Role",
    "build_report",
    "hub_link",
]
