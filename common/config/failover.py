"""Host failover: an agent's ``failover:`` and the mesh's ``failover:`` timings (docs/DR.md).

An agent entry may say ``failover: {host: main_pc, state: stateful, back: auto}``: when its
own host is confirmed gone, the launcher of ``host`` runs it there (common.launcher.failover).
``stateful``: the agent's SQLite file (``settings.db_path``, else ``$MESH_STATE_DIR/NAME.db``)
is shipped to the other host every ``ship_every_s``, so a failover starts from a copy no older
than ``ship_every_s`` plus one transfer.  ``back: auto`` moves it home once its host has been
back for ``return_after_s``; ``manual`` leaves it where it is until ``mesh failover back``.

Two hosts cannot tell a dead peer from a cut cable, so the failover host is the tie-breaker:
it must hold the ``registry`` role, and a home host that cannot reach the failover host's
launcher for ``fence_after_s`` stops its own failover agents (fencing).  The failover host
starts them only after ``confirm_after_s`` of silence (launcher unanswered and none of the
host's agents alive in the registry): ``confirm_after_s`` exceeds ``fence_after_s`` by at
least one probe interval, so an agent never runs on both sides at once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from common.config.base import ConfigModel
from common.config.fields import HostName

__all__ = ["AgentFailover", "FailoverTimings"]


class AgentFailover(ConfigModel):
    """An agent's ``failover: {host, state, back}``."""

    host: HostName
    state: Literal["stateless", "stateful"] = "stateless"
    back: Literal["auto", "manual"] = "auto"


class FailoverTimings(ConfigModel):
    """The mesh's ``failover:`` section: how host loss is judged and state shipped."""

    probe_interval_s: float = Field(default=0.25, gt=0, le=10)
    fence_after_s: float = Field(default=1.5, gt=0, le=600)
    confirm_after_s: float = Field(default=3.0, gt=0, le=600)
    return_after_s: float = Field(default=3.0, gt=0, le=3600)
    ship_every_s: float = Field(default=2.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _fence_first(self) -> FailoverTimings:
        if self.confirm_after_s < self.fence_after_s + 2 * self.probe_interval_s:
            raise ValueError(
                f"confirm_after_s ({self.confirm_after_s:g}) must exceed fence_after_s "
                f"({self.fence_after_s:g}) by two probe intervals "
                f"({2 * self.probe_interval_s:g} s): the home host stops its failover agents "
                "before the failover host may start them")
        return self
