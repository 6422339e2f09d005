"""TorchModelAgent's settings: a model of their own, free of torch, so that ``mesh config
check`` reads them on a host without the models extra."""

from __future__ import annotations

from pydantic import Field

from common.base_agent.settings import AgentSettings

__all__ = ["ModelAgentSettings"]


class ModelAgentSettings(AgentSettings):
    """What a model agent leases and loads; ``vram_mb`` is required."""

    vram_mb: float = Field(gt=0)  # declared to the VRAM pool
    model: str | None = None  # None: the agent's name
    true_vram_mb: float | None = Field(default=None, gt=0)  # what the weights take; vram_mb
    weights_scale: float = Field(default=1.0, gt=0)  # CPU-only: load this fraction for real
    priority: int = 0
    pinned: bool = False
    hosts: list[str] | None = None  # where the model may be placed; None: anywhere
    autoload: bool = True
    idle_unload_s: float = Field(default=0.0, ge=0)  # 0: never
    keepalive_interval_s: float = Field(default=5.0, gt=0)
    manager: str | None = None  # None: the mesh's service: model_manager agent
    call_timeout_s: float = Field(default=1.0, gt=0)
    host_name: str | None = None  # the host it reports to the pool; None: its address
    weights_dir: str | None = None  # its checkpoint (disk tier); None: $MESH_STATE_DIR/weights
