"""Choose a host's backend from its config entry ``gpu: {backend, devices}``.

``auto`` picks nvml when it initialises, and the simulated backend from ``devices`` otherwise;
the choice is logged either way.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from common.gpu.backend import GpuBackend
from common.gpu.nvml import NvmlBackend, NvmlUnavailable
from common.gpu.simulated import SimulatedBackend

__all__ = ["BACKENDS", "make_backend"]

log = logging.getLogger(__name__)

BACKENDS = ("nvml", "simulated", "auto")


def make_backend(spec: Mapping[str, Any] | None, *, nvml: Any = None) -> GpuBackend:
    """The backend a ``gpu:`` config entry asks for (``nvml`` raises if NVML does not start)."""
    spec = dict(spec or {})
    kind = spec.get("backend", "auto")
    if kind not in BACKENDS:
        raise ValueError(f"gpu.backend: {kind!r} is not one of {', '.join(BACKENDS)}")
    devices = spec.get("devices") or []
    if kind == "simulated":
        return SimulatedBackend(devices)
    try:
        backend = NvmlBackend(nvml)
    except NvmlUnavailable as exc:
        if kind == "nvml":
            raise
        if not devices:
            raise ValueError("gpu.backend auto: NVML is unavailable and no devices are listed "
                             f"for the simulated fallback ({exc})") from exc
        log.info("gpu backend auto: NVML unavailable (%s); using simulated %s", exc,
                 [d["name"] for d in devices])
        return SimulatedBackend(devices)
    log.info("gpu backend %s: using nvml (%d GPUs)", kind, len(backend.gpus()))
    return backend
