"""Reusable model agents: a BaseAgent that owns one torch model under a VRAM lease.

torch is the ``models`` extra (``common.extras``): this package imports without it;
its weights (``common.model_agent.weights``) need it.
"""

from common.model_agent.agent import TorchModelAgent
from common.model_agent.state import ModelState

__all__ = ["ModelState", "TorchModelAgent"]
