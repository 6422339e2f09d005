"""ModelManagerAgent: the VRAM pool across both hosts' GPUs."""

from main_pc.model_manager.agent import ModelManagerAgent
from main_pc.model_manager.policy import GpuSlot, Policy
from main_pc.model_manager.pool import VramPool

__all__ = ["GpuSlot", "ModelManagerAgent", "Policy", "VramPool"]
