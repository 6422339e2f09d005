"""The central role by etcd election (``registry: {backend: etcd}``), in place of Binary Star.

Every hub campaigns for ``hub_central``; the one holding the key is ``active`` (evaluates
alerts and SLOs, notifies, posts to Alertmanager), every other one ``passive`` and forwards
what its host's agents report to the active one (leader_forward.py), so the active hub sees
every host.  There is no Binary-Star peer.  The minority side of a partition holds no
leadership, so its hub goes passive within ``ttl_s``; docs/SCALING.md says what each failure
does.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import zmq

from common.election import Election, ElectionSettings
from observability_hub.failover import Failover
from observability_hub.leader_forward import LeaderForward
from observability_hub.states import HubState

__all__ = ["ROLE", "ElectedCentral"]

log = logging.getLogger(__name__)

ROLE = "hub_central"


class ElectedCentral:
    def __init__(self, settings: ElectionSettings, hub_name: str, failover: Failover) -> None:
        self.failover = failover
        self.election = Election.from_settings(settings, ROLE, hub_name)
        self.candidates = dict(settings.candidates)  # hub name -> its endpoint
        self.forward: LeaderForward | None = None
        failover.elected = True  # buffers for the leader while not active (forwarding())
        failover.state = HubState.PASSIVE  # until elected

    def start(self, ctx: zmq.Context) -> None:
        self.forward = LeaderForward(ctx, self.failover.hub_name, self.failover.buffer)
        self.election.start()

    def stop(self) -> None:
        self.election.stop()
        if self.forward is not None:
            self.forward.close()

    def drive(self) -> None:
        """From the hub's tick, with its lock held: follow the election."""
        want = HubState.ACTIVE if self.election.is_leader else HubState.PASSIVE
        if self.forward is not None:
            leader = self.election.holder
            self.forward.to("" if want is HubState.ACTIVE or not leader
                            else self.candidates.get(leader, ""))
            self.forward.pump()
        if self.failover.state is want:
            return
        log.warning("hub %s: %s -> %s by election", self.failover.hub_name,
                    self.failover.state.value, want.value)
        if want is HubState.ACTIVE and self.election.took_over_from:  # not the first leader
            self.failover.failovers_total += 1
            self.failover.failover_times.append(time.monotonic())
        self.failover.state = want

    def status(self) -> dict[str, Any]:
        return {"elected": True, "leader": self.election.holder,
                "forwarded_total": self.forward.forwarded_total if self.forward else 0}
