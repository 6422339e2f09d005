"""The GPU probe: a tiny agent on each host that answers ``gpu_info`` from its GpuBackend, and
``ProbeBackend``, the GpuBackend the ModelManagerAgent uses to see another host's GPUs.

``gpu_info`` ``{}`` -> ``{host, kind, gpus: [{index, name, total_bytes, used_bytes,
free_bytes}], processes: [{gpu_index, pid, used_bytes}]}``.  Settings of the probe agent:
``gpu: {backend, devices}`` (the host's config entry).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import zmq

from common.base_agent.agent import BaseAgent
from common.base_agent.client import Client
from common.base_agent.errors import MeshError
from common.base_agent.handlers import handler
from common.base_agent.settings import AgentSettings
from common.gpu.backend import GpuBackend, GpuInfo, ProcessUsage
from common.gpu.choose import make_backend

__all__ = ["ACTION_GPU_INFO", "GpuProbeAgent", "ProbeBackend", "probe_name"]

log = logging.getLogger(__name__)

ACTION_GPU_INFO = "gpu_info"
PROBE_TIMEOUT_S = 1.0


def probe_name(host: str) -> str:
    return f"GpuProbe-{host}"


class GpuProbeAgent(BaseAgent):
    capabilities = ("gpu_probe",)

    class Settings(AgentSettings):
        gpu: dict[str, Any] | None = None  # the host's config entry: {backend, devices}

    settings: Settings

    def on_setup(self) -> None:
        self.backend: GpuBackend = make_backend(self.settings.gpu)

    @handler(ACTION_GPU_INFO)
    def gpu_info(self, payload: Any = None) -> dict[str, Any]:
        return {"host": self.host, "kind": self.backend.kind,
                "gpus": [g.as_dict() for g in self.backend.gpus()],
                "processes": [{"gpu_index": p.gpu_index, "pid": p.pid,
                               "used_bytes": p.used_bytes} for p in self.backend.processes()]}


class ProbeBackend:
    """Another host's GPUs as last read from its probe (refreshed by a thread of its own)."""

    kind = "probe"

    def __init__(self, registry: str, host: str, *, ctx: zmq.Context | None = None,
                 interval_s: float = 1.0, first_timeout_s: float = 5.0) -> None:
        self.host, self.name = host, probe_name(host)
        self._registry, self._ctx, self._interval_s = registry, ctx, interval_s
        self._gpus: list[GpuInfo] = []
        self._procs: list[ProcessUsage] = []
        self._stop = threading.Event()
        self._first = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"probe-{host}", daemon=True)
        self._thread.start()
        if not self._first.wait(first_timeout_s):
            log.warning("no answer from %s within %g s; host %s shows no GPU until it answers",
                        self.name, first_timeout_s, host)

    def gpus(self) -> list[GpuInfo]:
        return list(self._gpus)

    def processes(self) -> list[ProcessUsage]:
        return list(self._procs)

    def _run(self) -> None:
        client = Client(self._registry, ctx=self._ctx, source="vram-probe")
        try:
            while not self._stop.is_set():
                try:
                    info = client.call(self.name, ACTION_GPU_INFO, timeout_s=PROBE_TIMEOUT_S,
                                       retries=0)
                    self._gpus = [GpuInfo(g["index"], g["name"], g["total_bytes"],
                                          g["used_bytes"]) for g in info["gpus"]]
                    self._procs = [ProcessUsage(**p) for p in info["processes"]]
                    self._first.set()
                except MeshError as exc:
                    log.debug("%s: %s", self.name, exc)
                self._stop.wait(self._interval_s)
        finally:
            client.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(PROBE_TIMEOUT_S * 3)
