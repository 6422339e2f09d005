"""GPU access behind the small ``GpuBackend`` protocol: nvml (real hardware) and simulated."""

from common.gpu.backend import GpuBackend, GpuInfo, ProcessUsage
from common.gpu.choose import make_backend
from common.gpu.nvml import NvmlBackend
from common.gpu.simulated import SimulatedBackend

__all__ = ["GpuBackend", "GpuInfo", "NvmlBackend", "ProcessUsage", "SimulatedBackend",
           "make_backend"]
