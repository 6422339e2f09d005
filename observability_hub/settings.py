"""The hub's settings.  The first group is derived by the host plan from the config
(common.launcher.services: role from its host's roles, peer from the other hub agent, the
agent→host map and dependency graph from every agent) and written by hand only for a hub run
alone (``mesh agent run``); the config refuses them under ``settings:``.  The rest are tunables.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from common.base_agent.settings import AgentSettings
from common.config.anomaly import AnomalyConfig
from common.config.history import AlertmanagerConfig, EventsConfig
from common.election import ElectionSettings
from observability_hub.aggregate import MAX_UNKNOWN_AGENTS
from observability_hub.slo_spec import SloPlan

__all__ = ["FORWARD_BUFFER_MAX", "HubSettings"]

FORWARD_BUFFER_MAX = 10_000


class HubSettings(AgentSettings):
    role: Literal["central", "edge"] = "central"
    peer: str = ""  # the other hub's ROUTER endpoint; "" alone
    http_port: int | None = Field(default=None, ge=0, le=65535)  # None: 9000 central, 9100 edge
    host_name: str | None = None  # None: main_pc central, pc2 edge
    peer_host_name: str | None = None
    hosts: dict[str, str] | None = None  # agent -> host
    dependencies: dict[str, list[str]] | None = None  # agent -> its dependencies
    launchers: dict[str, str] = {}  # host -> its launcher's control endpoint (re-learning)
    events_db: str | None = None  # None: $MESH_STATE_DIR/NAME.events.db, else in memory
    events: EventsConfig = EventsConfig()  # the config's events: section (retention)
    alertmanager: AlertmanagerConfig | None = None  # the config's alertmanager: section
    slos: SloPlan = SloPlan()  # the config's slos:, agents resolved, history in the state dir
    anomaly: AnomalyConfig = AnomalyConfig()  # the config's anomaly: section
    election: ElectionSettings | None = None  # registry backend etcd: the central role elected

    http_host: str | None = None  # None: the ROUTER's host
    api_token: str | None = None  # or env MESH_HUB_TOKEN (the config declares it a secret)
    alert_log: str | None = None
    webhook_url: str | None = None
    forward_buffer_max: int = Field(default=FORWARD_BUFFER_MAX, gt=0)
    # agents not in hosts tracked at once (those in it always are); beyond, dropped and counted
    max_unknown_agents: int = Field(default=MAX_UNKNOWN_AGENTS, ge=0)
