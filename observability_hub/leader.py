"""The central role by etcd election (``registry: {backend: etcd}``), in place of Binary Star.

Every hub campaigns for ``hub_central``; the one holding the lease is ``active`` (evaluates
alerts and SLOs, notifies, posts to Alertmanager), every other one ``passive``.  There is no
peer link: a passive hub keeps its own host's view and forwards nothing (the buffer a Binary
Star edge fills for its peer is kept empty).  The minority side of a partition holds no
lease, so its hub goes passive within ``ttl_s``; docs/SCALING.md says what each failure does.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from common.election import Election, ElectionSettings
from observability_hub.failover import Failover
from observability_hub.states import HubState

__all__ = ["ROLE", "ElectedCentral"]

log = logging.getLogger(__name__)

ROLE = "hub_central"


class ElectedCentral:
    def __init__(self, settings: ElectionSettings, hub_name: str, failover: Failover) -> None:
        self.failover = failover
        self.election = Election.from_settings(settings, ROLE, hub_name)
        failover.state = HubState.PASSIVE  # until elected

    def start(self) -> None:
        self.election.start()

    def stop(self) -> None:
        self.election.stop()

    def drive(self) -> None:
        """From the hub's tick, with its lock held: follow the election."""
        want = HubState.ACTIVE if self.election.is_leader else HubState.PASSIVE
        if want is HubState.PASSIVE:
            self.failover.buffer.clear()  # no peer drains it
        if self.failover.state is want:
            return
        log.warning("hub %s: %s -> %s by election", self.failover.hub_name,
                    self.failover.state.value, want.value)
        if want is HubState.ACTIVE and self.election.took_over_from:  # not the first leader
            self.failover.failovers_total += 1
            self.failover.failover_times.append(time.monotonic())
        self.failover.state = want

    def status(self) -> dict[str, Any]:
        return {"elected": True, "leader": self.election.holder}
