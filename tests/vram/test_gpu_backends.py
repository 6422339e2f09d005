"""GpuBackend: nvml parsing against recorded NVML values, the simulated backend, auto choice."""

import logging
from types import SimpleNamespace

import pytest

from common.gpu import GpuBackend, NvmlBackend, SimulatedBackend, make_backend
from common.gpu.backend import MIB
from common.gpu.nvml import NvmlUnavailable

pytestmark = pytest.mark.timeout(30)

# Recorded from nvidia-smi / pynvml on an RTX 4090 (driver 550) and an RTX 3060 host.
RECORDED = {
    "names": [b"NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 3060"],
    "memory": [(25757220864, 1932853248, 23824367616), (12884901888, 12295077888, 589824000)],
    "compute": [[(4242, 1583349760), (4243, None)], []],
    "graphics": [[(4242, 1583349760), (977, 4194304)], [(1203, 262144000)]],
}


class NVMLError(Exception):
    pass


class RecordedNvml:
    """A pynvml-shaped object replaying recorded values (not a mock of zmq: NVML's output)."""

    def __init__(self, data=RECORDED, fail_init=False):
        self.data, self.fail_init, self.shut = data, fail_init, False

    def nvmlInit(self):
        if self.fail_init:
            raise NVMLError("NVML_ERROR_LIBRARY_NOT_FOUND")

    def nvmlShutdown(self):
        self.shut = True

    def nvmlDeviceGetCount(self):
        return len(self.data["names"])

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return self.data["names"][h]

    def nvmlDeviceGetMemoryInfo(self, h):
        total, used, free = self.data["memory"][h]
        return SimpleNamespace(total=total, used=used, free=free)

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [SimpleNamespace(pid=p, usedGpuMemory=u) for p, u in self.data["compute"][h]]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h):
        if h == 1:
            raise NVMLError("NVML_ERROR_NOT_SUPPORTED")
        return [SimpleNamespace(pid=p, usedGpuMemory=u) for p, u in self.data["graphics"][h]]


def test_nvml_parses_recorded_values():
    backend = NvmlBackend(RecordedNvml())
    assert isinstance(backend, GpuBackend)
    gpus = backend.gpus()
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 3060"]
    assert gpus[0].total_bytes == 25757220864 and gpus[0].used_bytes == 1932853248
    assert gpus[0].free_bytes == 25757220864 - 1932853248
    procs = {(p.gpu_index, p.pid): p.used_bytes for p in backend.processes()}
    # pid 4243's memory is not attributable (None): skipped; compute+graphics deduplicated;
    # GPU 1's unsupported graphics list is tolerated.
    assert procs == {(0, 977): 4194304, (0, 4242): 1583349760}
    backend.close()


def test_nvml_that_does_not_initialise_raises_a_typed_error():
    with pytest.raises(NvmlUnavailable, match="LIBRARY_NOT_FOUND"):
        NvmlBackend(RecordedNvml(fail_init=True))


def test_nvml_for_real_when_a_gpu_is_present():
    try:
        backend = NvmlBackend()
    except NvmlUnavailable as exc:
        pytest.skip(f"no NVML on this machine: {exc}")
    gpus = backend.gpus()
    assert gpus and all(g.total_bytes > 0 and 0 <= g.used_bytes <= g.total_bytes for g in gpus)
    assert all(p.used_bytes >= 0 for p in backend.processes())


def test_simulated_capacity_from_config_and_used_from_reports():
    sim = SimulatedBackend([{"name": "RTX 4090", "vram_mb": 24000}])
    assert sim.gpus()[0].total_bytes == 24000 * MIB and sim.gpus()[0].used_bytes == 0
    sim.report(0, 11, 100 * MIB)
    sim.report(0, 12, 50 * MIB)
    assert sim.gpus()[0].used_bytes == 150 * MIB
    sim.set_usage(0, {12: 10 * MIB})
    assert [(p.pid, p.used_bytes) for p in sim.processes()] == [(12, 10 * MIB)]
    with pytest.raises(ValueError, match="no simulated GPU 3"):
        sim.report(3, 1, 1)


def test_auto_picks_nvml_when_it_starts_and_says_so(caplog):
    caplog.set_level(logging.INFO, "common.gpu.choose")
    spec = {"backend": "auto", "devices": [{"name": "RTX 3060", "vram_mb": 12000}]}
    assert make_backend(spec, nvml=RecordedNvml()).kind == "nvml"
    assert "using nvml (2 GPUs)" in caplog.text
    fallback = make_backend(spec, nvml=RecordedNvml(fail_init=True))
    assert fallback.kind == "simulated" and fallback.gpus()[0].name == "RTX 3060"
    assert "NVML unavailable" in caplog.text


def test_backend_config_errors_are_clear():
    with pytest.raises(ValueError, match="gpu.backend: 'cuda'"):
        make_backend({"backend": "cuda"})
    with pytest.raises(NvmlUnavailable):
        make_backend({"backend": "nvml"}, nvml=RecordedNvml(fail_init=True))
    with pytest.raises(ValueError, match="no devices are listed"):
        make_backend({"backend": "auto"}, nvml=RecordedNvml(fail_init=True))
