"""Optional dependencies (extras).  torch is ``models``: only a host that runs model agents
installs it.

A mesh without model agents never imports torch, and the model agents' modules import without
it too (their hosts' other agents live beside them).  ``mesh up`` asks ``missing_torch`` before
it starts a host, so an operator who left out the extra gets one error naming the agents and the
command instead of a crash loop; a model agent started anyway stops at setup with
``TorchMissing``.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Mapping

from common.base_agent.errors import MeshError
from common.base_agent.loader import load_agent_class

__all__ = ["INSTALL_MODELS", "TorchMissing", "missing_torch", "torch_installed"]

INSTALL_MODELS = "pip install 'agentmesh[models]'"


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


class TorchMissing(MeshError):
    def __init__(self, agents: Iterable[str]) -> None:
        names = sorted(agents)
        what = "model agents need" if len(names) > 1 else "a model agent needs"
        super().__init__(
            f"{', '.join(names)}: {what} torch, which this Python ({sys.executable}) does not "
            f"have; install it on this host with {INSTALL_MODELS} (a GPU host: torch's CUDA "
            "build first)")


def missing_torch(agents: Mapping[str, str]) -> list[str]:
    """Of agents (name -> ``module:Class``), those that need torch when it is not installed:
    their class sets ``needs_torch``.  Their modules are imported (only without torch); one
    that cannot be is left to the agent's own start to report."""
    if torch_installed():
        return []
    needing = []
    for name, spec in agents.items():
        try:
            cls = load_agent_class(spec)
        except ValueError:
            continue
        if getattr(cls, "needs_torch", False):
            needing.append(name)
    return needing
