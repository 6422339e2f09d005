"""The simulated backend: capacity from the config, "used" = what model agents report.

For machines without a GPU (tests, CI, the benchmark).  Model agents running with this backend
report the bytes their lease accounts (``report``); the backend sums them per GPU.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from common.gpu.backend import MIB, GpuInfo, ProcessUsage

__all__ = ["SimulatedBackend"]


class SimulatedBackend:
    kind = "simulated"

    def __init__(self, devices: Sequence[Mapping[str, Any]]) -> None:
        if not devices:
            raise ValueError("the simulated backend needs its devices listed (name, vram_mb)")
        self._devices = [(str(d["name"]), int(d["vram_mb"]) * MIB) for d in devices]
        self._used: dict[tuple[int, int], int] = {}  # (gpu index, pid) -> bytes
        self._lock = threading.Lock()  # reports may come from another thread than reads

    def report(self, gpu_index: int, pid: int, used_bytes: int) -> None:
        """Record what process pid really uses on GPU gpu_index (0 forgets it)."""
        if not 0 <= gpu_index < len(self._devices):
            raise ValueError(f"no simulated GPU {gpu_index} (have {len(self._devices)})")
        with self._lock:
            if used_bytes > 0:
                self._used[(gpu_index, pid)] = int(used_bytes)
            else:
                self._used.pop((gpu_index, pid), None)

    def set_usage(self, gpu_index: int, by_pid: dict[int, int]) -> None:
        """Replace everything recorded for GPU gpu_index with by_pid (pid -> bytes)."""
        with self._lock:
            for key in [k for k in self._used if k[0] == gpu_index]:
                del self._used[key]
        for pid, used in by_pid.items():
            self.report(gpu_index, pid, used)

    def forget(self, pid: int) -> None:
        with self._lock:
            for key in [k for k in self._used if k[1] == pid]:
                del self._used[key]

    def gpus(self) -> list[GpuInfo]:
        with self._lock:
            used = dict(self._used)
        return [GpuInfo(i, name, total, sum(b for (g, _), b in used.items() if g == i))
                for i, (name, total) in enumerate(self._devices)]

    def processes(self) -> list[ProcessUsage]:
        with self._lock:
            return [ProcessUsage(g, pid, b) for (g, pid), b in sorted(self._used.items())]
