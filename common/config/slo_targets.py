"""Which agents an SLO covers: ``slos.objectives[i]``'s selector resolved against the agents.

``agent``: that one; ``kind``: the agents providing a service role (``registry``, ``hub``,
``model_manager``), ``model`` (agents that hold VRAM: ``resources.vram_mb`` > 0) or ``legacy``
(``script_path`` agents); ``host``: every agent of the host; ``mesh``: every agent.
"""

from __future__ import annotations

from collections.abc import Iterable

from common.config.agent_schema import AgentConfig
from common.config.slos import SloObjective

__all__ = ["covered_agents", "of_kind"]


def of_kind(agent: AgentConfig, kind: str) -> bool:
    if kind == "model":
        return agent.resources.vram_mb > 0
    if kind == "legacy":
        return agent.script_path is not None
    return agent.service == kind


def covered_agents(objective: SloObjective, agents: Iterable[AgentConfig]) -> list[AgentConfig]:
    """The agents the objective covers, in document order (empty: a config error)."""
    if objective.agent is not None:
        return [a for a in agents if a.name == objective.agent]
    if objective.kind is not None:
        return [a for a in agents if of_kind(a, objective.kind)]
    if objective.host is not None:
        return [a for a in agents if a.host == objective.host]
    return list(agents)
