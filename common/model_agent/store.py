"""Where a model agent's weights come from when its lease is granted: its warm copy in host RAM,
its checkpoint on disk, or (the first time, with no checkpoint yet) built and saved.

``load`` runs in the agent's loader thread and says which tier the weights came from and how long
that took (None for a first build: that is not a reload the pool can plan on).  The checkpoint
lies in ``weights_dir`` (default ``$MESH_STATE_DIR/weights``; neither set: no disk tier, every
cold load builds).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from common.model_agent import weights
from common.model_agent.weights import SyntheticModel
from common.vram.protocol import Tier

__all__ = ["WeightStore"]

log = logging.getLogger(__name__)


class WeightStore:
    def __init__(self, model: str, size_bytes: int, weights_dir: str | None) -> None:
        self.model = model
        self.size_bytes = size_bytes
        folder = weights_dir or (Path(os.environ["MESH_STATE_DIR"]) / "weights"
                                 if os.environ.get("MESH_STATE_DIR") else None)
        self.path = Path(folder) / f"{model}-{size_bytes}.pt" if folder else None
        self.warm: SyntheticModel | None = None  # the weights kept in host RAM

    def load(self, device: str) -> tuple[SyntheticModel, Tier, float | None]:
        """-> (the model on device, the tier it came from, seconds the load took)."""
        t0 = time.perf_counter()
        warm, self.warm = self.warm, None
        if warm is not None:
            return weights.restore(warm, device), Tier.WARM, time.perf_counter() - t0
        if self.path is not None and self.path.exists():
            return weights.load(self.path, device), Tier.COLD, time.perf_counter() - t0
        model = weights.build_model(self.model, self.size_bytes, device)
        if self.path is not None:
            weights.save(model, self.path)
            log.info("%s: checkpoint written to %s", self.model, self.path)
        return model, Tier.COLD, None

    def keep(self, model: SyntheticModel) -> None:
        """Keep the weights of an unloading model in host RAM."""
        self.warm = weights.offload(model)

    def drop(self) -> None:
        self.warm = None  # its tensors are freed with the last reference
