"""The nvml backend: real GPUs through pynvml (nvidia-ml-py).

The pynvml module is injected so its parsing can be tested against recorded NVML values on
machines without a GPU.  NVML quirks handled here: names are ``bytes`` on old bindings and
``str`` on new ones; ``usedGpuMemory`` is ``None`` when the driver cannot attribute memory to
a process (Windows WDDM, containers without the host PID namespace); compute and graphics
process lists overlap.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

from common.gpu.backend import GpuInfo, ProcessUsage

__all__ = ["NvmlBackend", "NvmlUnavailable"]

log = logging.getLogger(__name__)


class NvmlUnavailable(RuntimeError):
    """NVML could not be initialised (no driver, no GPU, no library)."""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class NvmlBackend:
    kind = "nvml"

    def __init__(self, nvml: ModuleType | Any | None = None) -> None:
        if nvml is None:
            import pynvml  # nvidia-ml-py

            nvml = pynvml
        self._nvml: Any = nvml
        try:
            nvml.nvmlInit()
            self._count = int(nvml.nvmlDeviceGetCount())
        except Exception as exc:  # NVMLError and OSError (library missing) alike
            raise NvmlUnavailable(f"NVML did not initialise: {exc}") from exc
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(self._count)]

    def gpus(self) -> list[GpuInfo]:
        out = []
        for index, handle in enumerate(self._handles):
            mem = self._nvml.nvmlDeviceGetMemoryInfo(handle)
            name = _text(self._nvml.nvmlDeviceGetName(handle))
            out.append(GpuInfo(index, name, int(mem.total), int(mem.used)))
        return out

    def processes(self) -> list[ProcessUsage]:
        out: dict[tuple[int, int], int] = {}
        for index, handle in enumerate(self._handles):
            for getter in ("nvmlDeviceGetComputeRunningProcesses",
                           "nvmlDeviceGetGraphicsRunningProcesses"):
                for proc in self._running(getattr(self._nvml, getter, None), handle):
                    used = getattr(proc, "usedGpuMemory", None)
                    if used is None:
                        continue  # not attributable on this platform
                    key = (index, int(proc.pid))
                    out[key] = max(out.get(key, 0), int(used))
        return [ProcessUsage(g, pid, b) for (g, pid), b in sorted(out.items())]

    @staticmethod
    def _running(getter: Any, handle: Any) -> list[Any]:
        if getter is None:
            return []
        try:
            return list(getter(handle))
        except Exception as exc:  # NVML_ERROR_NOT_SUPPORTED on some boards
            log.debug("nvml process list unavailable: %s", exc)
            return []

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            log.debug("nvmlShutdown failed", exc_info=True)
