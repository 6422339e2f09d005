"""The ``slos:`` section: service level objectives the hubs evaluate (docs/CONFIG.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from common.config.base import ConfigModel
from common.config.fields import AgentName, Duration, HostName

__all__ = ["SloObjective", "SlosConfig"]


class SloObjective(ConfigModel):
    """One service level objective (``slos.objectives[i]``): an SLI over the agents chosen by
    exactly one of ``agent``, ``kind`` (a service role, ``model``: agents that hold VRAM,
    ``legacy``: script agents), ``host`` or ``mesh: true``.  ``availability``: replies that
    are not errors / all requests; ``heartbeat``: time the agents' heartbeats are fresh;
    ``latency``: requests answered within ``threshold_s`` (a latency bucket bound)."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
    sli: Literal["availability", "heartbeat", "latency"]
    target_percent: float = Field(gt=0, lt=100)
    agent: AgentName | None = None
    kind: Literal["registry", "hub", "model_manager", "model", "legacy"] | None = None
    host: HostName | None = None
    mesh: bool = False
    threshold_s: float | None = Field(default=None, gt=0)
    window: Duration | None = Field(default=None, description="default: slos.window")

    @model_validator(mode="after")
    def _one_selector(self) -> SloObjective:
        chosen = [k for k in ("agent", "kind", "host") if getattr(self, k) is not None]
        chosen += ["mesh"] if self.mesh else []
        if len(chosen) != 1:
            raise ValueError("choose the agents with exactly one of agent, kind, host or "
                             f"mesh: true (got {', '.join(chosen) or 'none'})")
        if (self.sli == "latency") != (self.threshold_s is not None):
            raise ValueError("threshold_s is given for a latency SLI, and only for one")
        return self


class SlosConfig(ConfigModel):
    """``slos:``: objectives with error budgets over a rolling ``window``; the hubs evaluate
    multi-window burn-rate alerts and write the report every ``report_every``."""

    window: Duration = Field(default=30 * 86400, description="rolling window, e.g. 30d")
    report_every: Duration = Field(default=86400, description="the hubs write the report")
    objectives: list[SloObjective] = Field(default_factory=list)
