"""The pool's GPUs, read from each host's backend at start-up.

Settings ``hosts: {HOST: {gpu: {backend, devices}}}`` (the config's per-host ``gpu`` entry).
The manager's own host (``local_host``) may use any backend; another host's ``simulated``
GPU is read here from its config, and its ``nvml``/``auto`` GPUs through the GpuProbe agent
on that host (common.gpu.probe).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from common.gpu.backend import MIB, GpuBackend
from common.gpu.choose import make_backend
from common.gpu.simulated import SimulatedBackend
from main_pc.model_manager.policy import GpuSlot

__all__ = ["HostGpus", "build_hosts", "warm_budgets"]

log = logging.getLogger(__name__)

RemoteFactory = Callable[[str, Mapping[str, Any]], GpuBackend]


class HostGpus:
    """Backends per host and the GPU slots they give."""

    def __init__(self, backends: dict[str, GpuBackend], reserve_mb: int) -> None:
        self.backends = backends
        self.slots = [GpuSlot(host, g.index, g.name, g.total_bytes, reserve_mb * MIB)
                      for host, backend in backends.items() for g in backend.gpus()]

    def used_bytes(self) -> dict[str, int]:
        out = {}
        for host, backend in self.backends.items():
            for gpu in backend.gpus():
                out[f"{host}:{gpu.index}"] = gpu.used_bytes
        return out

    def process_bytes(self, host: str, gpu_index: int, pid: int) -> int:
        """What the backend itself sees process pid using (0 when it cannot tell)."""
        backend = self.backends.get(host)
        if backend is None or isinstance(backend, SimulatedBackend) or not pid:
            return 0
        return sum(p.used_bytes for p in backend.processes()
                   if p.pid == pid and p.gpu_index == gpu_index)

    def record(self, host: str, gpu_index: int, by_pid: dict[int, int]) -> None:
        """On a simulated GPU, "used" is what the holders report."""
        backend = self.backends.get(host)
        if isinstance(backend, SimulatedBackend):
            backend.set_usage(gpu_index, by_pid)


def build_hosts(hosts: Mapping[str, Any], local_host: str, reserve_mb: int,
                remote: RemoteFactory | None = None) -> HostGpus:
    backends: dict[str, GpuBackend] = {}
    for host, entry in hosts.items():
        spec = dict((entry or {}).get("gpu") or {})
        if not spec:
            continue
        if host == local_host or spec.get("backend") == "simulated" or remote is None:
            backends[host] = make_backend(spec)
        else:
            backends[host] = remote(host, spec)
        log.info("host %s: %s backend, %d GPU(s)", host, backends[host].kind,
                 len(backends[host].gpus()))
    return HostGpus(backends, reserve_mb)


def warm_budgets(hosts: Mapping[str, Any]) -> dict[str, int]:
    """Host -> bytes of RAM the warm tier may use there (``gpu.warm_ram_mb``; 0: none)."""
    return {host: int(((entry or {}).get("gpu") or {}).get("warm_ram_mb") or 0) * MIB
            for host, entry in hosts.items()}
