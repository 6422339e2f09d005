"""A deterministic synthetic torch model of a declared size.

``weights_scale`` builds a proportionally smaller real tensor set (CPU-only machines); the lease
still accounts the full declared size.  The same model name and size always give the same
weights (seeded from the name), so outputs are reproducible across processes.
"""

from __future__ import annotations

import math
import zlib

import torch

__all__ = ["SyntheticModel", "build_model", "param_bytes"]

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
