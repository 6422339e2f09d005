"""The ``GpuBackend`` extension point: list GPUs with total/free memory, and per-process use.

Two implementations: :class:`~common.gpu.nvml.NvmlBackend` (pynvml, real hardware) and
:class:`~common.gpu.simulated.SimulatedBackend` (capacity from the config, "used" from what the
model agents report).  All sizes are bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["MIB", "GpuBackend", "GpuInfo", "ProcessUsage"]

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class GpuInfo:
    index: int
    name: str
    total_bytes: int
    used_bytes: int

    @property
    def free_bytes(self) -> int:
        return max(0, self.total_bytes - self.used_bytes)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "free_bytes": self.free_bytes}


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    gpu_index: int
    pid: int
    used_bytes: int


@runtime_checkable
class GpuBackend(Protocol):
    """What the VRAM pool needs to know about one host's GPUs; both calls must be quick."""

    kind: str

    def gpus(self) -> list[GpuInfo]: ...

    def processes(self) -> list[ProcessUsage]: ...
