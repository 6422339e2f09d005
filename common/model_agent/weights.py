"""A deterministic synthetic torch model of a declared size, and its three tiers.

``weights_scale`` builds a proportionally smaller real tensor set (CPU-only machines); the lease
still accounts the full declared size.  The same model name and size always give the same
weights (seeded from the name), so outputs are reproducible across processes.

Tiers: on the GPU (resident); in host RAM (``offload``: a pinned copy where CUDA is there, so
``restore`` is one DMA per tensor; on a CPU-only host the weights already are in RAM and stay
as they are); on disk (``save``/``load``, a torch checkpoint).
"""

from __future__ import annotations

import math
import os
import zlib
from pathlib import Path

import torch

__all__ = ["SyntheticModel", "build_model", "load", "offload", "param_bytes", "restore",
           "save"]

MAX_WIDTH = 1024


class SyntheticModel(torch.nn.Module):
    def __init__(self, layers: list[torch.Tensor]) -> None:
        super().__init__()
        self.layers = torch.nn.ParameterList(
            torch.nn.Parameter(w, requires_grad=False) for w in layers)
        self.width = layers[0].shape[0]

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for weight in self.layers:
            x = torch.tanh(x @ weight)
        return x


def build_model(name: str, size_bytes: int, device: str = "cpu") -> SyntheticModel:
    """float32 square layers totalling about size_bytes (at least one 8x8 layer)."""
    params = max(64, size_bytes // 4)
    count = max(1, math.ceil(params / (MAX_WIDTH * MAX_WIDTH)))
    width = max(8, int(math.sqrt(params / count)))
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    scale = 1.0 / math.sqrt(width)
    layers = [(torch.randn(width, width, generator=gen) * scale).to(device)
              for _ in range(count)]
    return SyntheticModel(layers)


def param_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def offload(model: SyntheticModel) -> SyntheticModel:
    """The weights in host RAM: pinned CPU copies of GPU tensors; CPU tensors as they are."""
    layers = [p.detach() for p in model.layers]
    if layers[0].is_cuda:
        layers = [w.to("cpu").pin_memory() for w in layers]
    return SyntheticModel(layers)


def restore(model: SyntheticModel, device: str) -> SyntheticModel:
    """The warm weights back on device (non-blocking copies from pinned RAM, then one sync)."""
    layers = [p.detach().to(device, non_blocking=True) for p in model.layers]
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    return SyntheticModel(layers)


def save(model: SyntheticModel, path: Path) -> None:
    """Write the checkpoint atomically (a crash leaves the old file or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save([p.detach().cpu() for p in model.layers], tmp)
    os.replace(tmp, path)


def load(path: Path, device: str) -> SyntheticModel:
    """The checkpoint read from disk onto device."""
    layers = torch.load(path, map_location=device, weights_only=True)
    return SyntheticModel(layers)
