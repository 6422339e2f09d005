"""The VRAM lease protocol and its client (the server is main_pc.model_manager)."""

from common.vram.client import LeaseClient
from common.vram.protocol import DEFAULT_MANAGER, Decision, LeaseState, Reason

__all__ = ["DEFAULT_MANAGER", "Decision", "LeaseClient", "LeaseState", "Reason"]
