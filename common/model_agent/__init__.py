"""Reusable model agents: a BaseAgent that owns one torch model under a VRAM lease."""

from common.model_agent.agent import TorchModelAgent
from common.model_agent.state import ModelState
from common.model_agent.weights import SyntheticModel, build_model

__all__ = ["ModelState", "SyntheticModel", "TorchModelAgent", "build_model"]
